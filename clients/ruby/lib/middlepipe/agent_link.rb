# frozen_string_literal: true

require "io/wait"
require "logger"
require "socket"
require "middlepipe/wire"

module Middlepipe
  DEFAULT_SOCKET = "/run/middlepipe/agent.sock"

  # Connections to one agent ($MP_AGENT_SOCKET): round trips and one-way sends of hook
  # frames. When the agent cannot be reached, calls go through unfiltered (fail-open):
  # it warns once and tries again after a second. Thread-safe: a pool of connections.
  class AgentLink
    attr_reader :socket_path

    def initialize(socket_path: nil, retry_after: 1.0, timeout: 5.0, logger: nil)
      @socket_path = socket_path || ENV["MP_AGENT_SOCKET"] || DEFAULT_SOCKET
      @retry_after = retry_after
      @timeout = timeout
      @logger = logger || Logger.new($stderr, progname: "middlepipe")
      @lock = Mutex.new
      @idle = []
      @retry_at = 0.0
      @warned = false
      @next_id = 0
    end

    def next_request_id
      @lock.synchronize { @next_id += 1 }
    end

    # The reply with this id, or nil when the agent is unreachable or answered garbage.
    def round_trip(request_id, message)
      connection = borrow
      return nil unless connection

      begin
        connection.write(Wire.frame(message))
        reply = nil
        loop do
          reply = Wire.parse_reply(read_frame(connection))
          break if reply.request_id == request_id
        end
      rescue SystemCallError, IOError, Wire::Error => e
        connection.close
        unreachable(e.message)
        return nil
      end
      give_back(connection)
      reply
    end

    # Sends a frame that gets no reply (OnResponse with no_reply).
    def send_only(message)
      connection = borrow
      return unless connection

      begin
        connection.write(Wire.frame(message))
      rescue SystemCallError, IOError => e
        connection.close
        unreachable(e.message)
        return
      end
      give_back(connection)
    end

    def close
      idle = @lock.synchronize { @idle.slice!(0..) }
      idle.each(&:close)
    end

    private

    def borrow
      @lock.synchronize do
        return @idle.pop unless @idle.empty?
        return nil if monotonic < @retry_at # recently unreachable: do not delay calls to find out
      end
      UNIXSocket.new(@socket_path)
    rescue SystemCallError, IOError => e
      unreachable("cannot connect to #{@socket_path}: #{e.message}")
      nil
    end

    def give_back(connection)
      recovered = @lock.synchronize do
        @idle << connection
        was = @warned
        @warned = false
        was
      end
      @logger.warn("middlepipe: agent at #{@socket_path} reachable again") if recovered
    end

    def unreachable(why)
      first = @lock.synchronize do
        @retry_at = monotonic + @retry_after
        was = @warned
        @warned = true
        !was
      end
      @logger.warn("middlepipe: agent unreachable (#{why}); calls go through unfiltered") if first
    end

    def read_frame(connection)
      head = read_exactly(connection, 4)
      length = head.unpack1("N")
      raise Wire::Error, "frame of #{length} bytes > #{Wire::MAX_FRAME}" if length > Wire::MAX_FRAME

      read_exactly(connection, length)
    end

    def read_exactly(connection, count)
      data = +"".b
      while data.bytesize < count
        # A hung agent must not hang the app: wait at most the timeout for each read.
        raise IOError, "no answer from the agent in #{@timeout} s" unless connection.wait_readable(@timeout)

        data << connection.readpartial(count - data.bytesize)
      end
      data
    rescue EOFError
      raise IOError, "the agent closed the connection"
    end

    def monotonic
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end
end
