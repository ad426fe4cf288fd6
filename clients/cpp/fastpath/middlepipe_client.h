/* libmiddlepipe_client: the middlepipe client core as a C library (DESIGN.md §5), for
 * language hooks that load it at run time (Python ctypes, Ruby Fiddle) or link it.
 *
 * Per HTTP call:
 *
 *   int action;
 *   mp_call* call = mp_on_request(client, "orders", &action);
 *   MP_ASK_AGENT  call is NULL: use the socket protocol (proto/hook.proto) for this call.
 *   MP_NO_CHAIN   call is NULL: send the request; nothing to report.
 *   MP_RESPOND    do not send: hand the app mp_call_status/headers/body, or raise the
 *                 kind's typed error when mp_call_raise; then mp_call_free(call).
 *   MP_CONTINUE   send the request; then mp_on_response(client, call, status, ...) (which
 *                 frees the call). Add mp_call_markers to the response the app sees.
 *
 * mp_on_request_with also takes the request's headers (a sticky traffic split reads
 * one), and with MP_APPLIES_DELAY_AND_DESTINATION the caller promises, for
 * MP_CONTINUE, to wait mp_call_delay_ms before sending (fault-inject; the wait counts in
 * the latency reported) and to send to mp_call_destination at mp_call_endpoints when it
 * is not "" (traffic-split). Without the flag (and with mp_on_request) chains with such
 * filters get MP_ASK_AGENT, whose socket answer says the same.
 *
 * Markers and headers come as text, one "Name: value\n" line each; endpoints as one
 * "host:port\n" line each. Strings returned belong to the call and live until it is
 * freed.
 *
 * Stability: these names, signatures and action values do not change within an ABI
 * version (mp_abi_version()); additions only. Thread-safe: one client per process, any
 * number of threads. Nothing here blocks or makes a system call on the fast path.
 */
#ifndef MIDDLEPIPE_CLIENT_H_
#define MIDDLEPIPE_CLIENT_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MP_ABI_VERSION 1

/* Flags of mp_on_request_with. */
#define MP_APPLIES_DELAY_AND_DESTINATION 1

enum {
  MP_NO_CHAIN = 0,
  MP_CONTINUE = 1,
  MP_RESPOND = 2,
  MP_ASK_AGENT = 3,
};

typedef struct mp_client mp_client;
typedef struct mp_call mp_call;

/* The ABI version this library implements. */
int mp_abi_version(void);

/* A client reading the segment at `segment_path`; NULL or "" for the default
 * ($MP_AGENT_SHM, else $MP_AGENT_SOCKET + ".shm", else /run/middlepipe/agent.sock.shm).
 * Succeeds even when there is no segment yet (calls get MP_ASK_AGENT until there is);
 * NULL only when out of memory. */
mp_client* mp_client_open(const char* segment_path);
void mp_client_close(mp_client* client);

/* Decides a call to `service`; see the top of this file. */
mp_call* mp_on_request(mp_client* client, const char* service, int* action);

/* Decides a call to `service` with its request headers ("Name: value\n" lines; NULL for
 * none) and MP_* flags. An addition to ABI version 1: look it up before use, an older
 * library lacks it. */
mp_call* mp_on_request_with(mp_client* client, const char* service, const char* headers,
                            int flags, int* action);

/* Reports a MP_CONTINUE call (status 0 = transport failure; latency from just before
 * sending) and frees it. */
void mp_on_response(mp_client* client, mp_call* call, uint32_t status, uint64_t latency_us,
                    uint64_t request_bytes, uint64_t response_bytes);

/* Frees a call without reporting it (MP_RESPOND calls, or a call the app abandoned). */
void mp_call_free(mp_call* call);

uint64_t mp_call_epoch(const mp_call* call);
const char* mp_call_markers(const mp_call* call);
uint32_t mp_call_status(const mp_call* call);
int mp_call_raise(const mp_call* call);
const char* mp_call_headers(const mp_call* call);
const char* mp_call_body(const mp_call* call, size_t* length);
/* MP_CONTINUE from mp_on_request_with with MP_APPLIES_DELAY_AND_DESTINATION: wait this
 * long before sending; send to this service ("" : the one asked for) at these
 * endpoints. */
uint32_t mp_call_delay_ms(const mp_call* call);
const char* mp_call_destination(const mp_call* call);
const char* mp_call_endpoints(const mp_call* call);

/* Observations the segment's ring turned away because it was full (all processes). */
uint64_t mp_client_dropped(mp_client* client);

#ifdef __cplusplus
}
#endif

#endif /* MIDDLEPIPE_CLIENT_H_ */
