# frozen_string_literal: true

require_relative "support"
require "open3"

# The codec against protoc's own encoding of the same messages.
class WireTest < Minitest::Test
  REPO = File.expand_path("../../..", __dir__)
  W = Middlepipe::Wire

  def protoc(message, text)
    out, err, status = Open3.capture3("protoc", "-I", REPO, "--encode=middlepipe.v1.#{message}", "proto/hook.proto",
                                      stdin_data: text, chdir: REPO, binmode: true)
    assert status.success?, err
    out.b
  end

  def test_requests_encode_as_protoc_does
    assert_equal protoc("HookRequest", 'request_id: 5 on_request { service: "orders" method: "GET" ' \
                                       'path: "/orders?x=1" headers { name: "Accept" value: "*/*" } }'),
                 W.on_request(5, "orders", "GET", "/orders?x=1", [["Accept", "*/*"]])
    assert_equal protoc("HookRequest", "request_id: 6 on_response { call_id: 9 status: 503 latency_us: 1234 " \
                                       "response_bytes: 20 no_reply: true }"),
                 W.on_response(6, 9, 503, 1234, 20, "", true)
  end

  def test_replies_decode_what_protoc_encodes
    reply = W.parse_reply(protoc("HookReply", <<~TEXT))
      request_id: 11
      verdict { action: ACTION_RESPOND call_id: 3 epoch: 4 set_headers { name: "X-A" value: "1" }
                remove_headers: "X-B" destination_service: "orders-v2"
                destination_endpoints { host: "198.18.0.9" port: 8080 } delay_ms: 40
                response { status: 503 headers { name: "H" value: "v" } body: "down" raise: true }
                markers { name: "Middlepipe-Epoch" value: "4" } await_response_markers: true }
    TEXT
    v = reply.verdict
    assert_equal [11, W::ACTION_RESPOND, 3, 4, 40], [reply.request_id, v.action, v.call_id, v.epoch, v.delay_ms]
    assert_equal [[["X-A", "1"]], ["X-B"]], [v.set_headers, v.remove_headers]
    assert_equal ["orders-v2", [["198.18.0.9", 8080]]], [v.destination_service, v.destination_endpoints]
    assert_equal [503, [["H", "v"]], "down", true],
                 [v.response.status, v.response.headers, v.response.body, v.response.raise_error]
    assert_equal [["Middlepipe-Epoch", "4"]], v.markers
    assert v.await_response_markers
    assert_equal [["a", "b"]], W.parse_reply(protoc("HookReply", 'request_id: 2 markers { markers { name: "a" value: "b" } }')).markers
    assert_equal "no", W.parse_reply(protoc("HookReply", 'request_id: 3 error { message: "no" }')).error
  end

  def test_garbage_is_a_wire_error_not_a_crash
    ["\xff".b, "\x0a\x05ab".b, "\x0f".b, "\x12\x02\x0a\xff".b].each do |garbage|
      assert_raises(W::Error) { W.parse_reply(garbage) }
    end
  end
end
