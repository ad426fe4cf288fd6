# frozen_string_literal: true

# Shared by the tests: a stand-in agent on a temporary Unix socket, reply builders, and
# a local HTTP service that counts its calls.
$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "minitest/autorun"
require "socket"
require "tmpdir"
require "middlepipe"
require "middlepipe/faraday"

module TestSupport
  W = Middlepipe::Wire
  OPEN = 'circuit-breaker; name="orders-breaker"; event=open; detail="60% of 10 calls failed"'

  def self.header(number, name, value)
    W.len(number, W.str(1, name) + W.str(2, value), always: true)
  end

  def self.verdict_reply(request_id, action: W::ACTION_CONTINUE, call_id: 0, markers: [], response: nil,
                         destination: "", endpoints: [], await_markers: false)
    verdict = W.uint(1, action) + W.uint(2, call_id) + W.uint(3, 1) + W.str(6, destination) +
              endpoints.map { |h, p| W.len(7, W.str(1, h) + W.uint(2, p), always: true) }.join.b +
              (response ? W.len(9, response, always: true) : "".b) +
              markers.map { |n, v| header(10, n, v) }.join.b + W.uint(11, await_markers ? 1 : 0)
    W.uint(1, request_id) + W.len(2, verdict, always: true)
  end

  def self.synthesized(status, headers = [], body = "", raise_error: false)
    W.uint(1, status) + headers.map { |n, v| header(2, n, v) }.join.b + W.len(3, body.b) + W.uint(4, raise_error ? 1 : 0)
  end

  def self.markers_reply(request_id, markers)
    W.uint(1, request_id) + W.len(3, markers.map { |n, v| header(1, n, v) }.join.b, always: true)
  end

  # Serves each connection `server` accepts on a thread of its own, until it is closed.
  def self.accept_each(server, &serve)
    Thread.new do
      loop do
        Thread.new(server.accept, &serve)
      rescue IOError, SystemCallError
        break
      end
    end
  end

  # Answers each frame with answer.call(fields) (nil: no reply; "RAW:"+bytes: sent as is).
  class FakeAgent
    attr_reader :path, :received

    def initialize(&answer)
      @directory = Dir.mktmpdir("mp-fake-agent-", "/tmp") # short: Unix socket paths
      @path = File.join(@directory, "agent.sock")
      @received = Queue.new
      @server = UNIXServer.new(@path)
      TestSupport.accept_each(@server) { |connection| serve(connection, answer) }
    end

    def close
      @server.close
      FileUtils.remove_entry(@directory)
    end

    private

    def serve(connection, answer)
      loop do
        head = connection.read(4)
        break if head.nil? || head.bytesize < 4

        fields = W.fields(connection.read(head.unpack1("N")))
        @received << fields
        reply = answer.call(fields)
        next if reply.nil?

        connection.write(reply.start_with?("RAW:") ? reply.byteslice(4..) : W.frame(reply))
      end
    rescue IOError, SystemCallError
      nil
    ensure
      connection.close
    end
  end

  # A local HTTP service: GET answers {"orders":[]} with `status`, counting calls.
  class Service
    attr_reader :port, :calls

    def initialize(status = 200)
      @calls = 0
      @server = TCPServer.new("127.0.0.1", 0)
      @port = @server.addr[1]
      TestSupport.accept_each(@server) { |client| serve(client, status) }
    end

    def close
      @server.close
    end

    private

    def serve(client, status)
      loop do
        request_line = client.gets
        break if request_line.nil?

        nil until ["\r\n", "\n", nil].include?(client.gets)
        @calls += 1
        body = '{"orders":[]}'
        client.write("HTTP/1.1 #{status} X\r\nContent-Type: application/json\r\nContent-Length: #{body.bytesize}\r\n\r\n#{body}")
      end
    ensure
      client.close
    end
  end
end
