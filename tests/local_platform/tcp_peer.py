"""Both ends of the packet-path tests' TCP traffic, run inside the platform's containers.

  tcp_peer.py sink PORT
      Accepts connections; reads each to its end, answers "received N" and closes.
  tcp_peer.py send HOST PORT [--gap-ms MS] [--bulk BYTES] CHUNK...
      Sends each CHUNK as its own segment (TCP_NODELAY, a pause between them), then BYTES
      bytes of filler, closes its side and prints JSON: what it sent and the sink's answer
      (null when none came: the connection was cut).
"""

import json
import socket
import sys
import threading
import time


def sink(port):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", port))
    server.listen(64)
    print("listening on", port, flush=True)

    def serve(connection):
        received = 0
        with connection:
            while True:
                data = connection.recv(1 << 16)
                if not data:
                    break
                received += len(data)
            print("connection received", received, flush=True)
            try:
                connection.sendall(b"received %d\n" % received)
            except OSError:
                pass

    while True:
        connection, _ = server.accept()
        threading.Thread(target=serve, args=(connection,), daemon=True).start()


def send(host, port, chunks, gap_ms, bulk, timeout):
    connection = socket.create_connection((host, port), timeout=timeout)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sent = 0
    error = None
    try:
        for chunk in chunks:
            connection.sendall(chunk.encode())
            sent += len(chunk)
            time.sleep(gap_ms / 1000.0)
        if bulk:
            connection.sendall(b"x" * bulk)
            sent += bulk
        connection.shutdown(socket.SHUT_WR)
        answer = b""
        while True:
            data = connection.recv(4096)
            if not data:
                break
            answer += data
        reply = answer.decode().strip() or None
    except OSError as e:
        reply, error = None, str(e)
    finally:
        connection.close()
    print(json.dumps({"sent": sent, "reply": reply, "error": error}))


def main(argv):
    if argv[1] == "sink":
        sink(int(argv[2]))
        return
    host, port, rest = argv[2], int(argv[3]), argv[4:]
    gap_ms, bulk, timeout, chunks = 50, 0, 10, []
    while rest:
        if rest[0] == "--gap-ms":
            gap_ms, rest = int(rest[1]), rest[2:]
        elif rest[0] == "--bulk":
            bulk, rest = int(rest[1]), rest[2:]
        elif rest[0] == "--timeout":
            timeout, rest = float(rest[1]), rest[2:]
        else:
            chunks.append(rest[0])
            rest = rest[1:]
    send(host, port, chunks, gap_ms, bulk, timeout)


if __name__ == "__main__":
    main(sys.argv)
