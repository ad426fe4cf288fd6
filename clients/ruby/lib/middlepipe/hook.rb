# frozen_string_literal: true

require "middlepipe/agent_link"
require "middlepipe/callbacks"
require "middlepipe/errors"
require "middlepipe/fast_path"
require "middlepipe/wire"

module Middlepipe
  # One call's two halves with the agent, whatever HTTP library makes it (DESIGN.md §5):
  # `before` asks for the verdict, `after` reports the outcome and returns the markers to
  # add; the library adapters (Net::HTTP, Faraday) apply them. Verdicts come from the
  # agent's shared-memory segment, in-process, wherever the agent says they can (when
  # libmiddlepipe_client.so is found: FastPath), else over its socket; the same either way.
  class Hook
    attr_reader :callbacks, :fast_path

    def initialize(socket_path: nil, callbacks: nil, services: {}, logger: nil, fast_path: true)
      logger ||= Logger.new($stderr, progname: "middlepipe")
      @link = AgentLink.new(socket_path: socket_path, logger: logger)
      @fast_path = fast_path ? FastPath.open(@link.socket_path, logger) : nil
      @callbacks = callbacks || Middlepipe.callbacks
      @services = services.transform_keys(&:to_s)
      @turn = 0
      @turn_lock = Mutex.new
    end

    # The bound service a call to host:port is, or nil (an IP address without a mapping):
    # an explicit mapping ("host:port" or "host"), else the host name's first label.
    def service_for(host, port)
      host = host.to_s.downcase
      return @services["#{host}:#{port}"] if @services.key?("#{host}:#{port}")
      return @services[host] if @services.key?(host)
      return nil if host.match?(/\A[\d.]+\z/) || host.include?(":")

      host.split(".").first
    end

    # The verdict for a call, or nil when the agent is unreachable (fail open).
    def before(service, method, path, headers)
      verdict = @fast_path&.before(service, headers)
      return verdict if verdict

      request_id = @link.next_request_id
      reply = @link.round_trip(request_id, Wire.on_request(request_id, service, method, path, headers))
      reply&.verdict
    end

    # For a RESPOND verdict: fires its callbacks; raises the kind's error when the
    # middlepipe has no fallback, else returns the fallback response (status, headers, body).
    def respond(verdict, build_response)
      first = nil
      verdict.markers.each do |name, value|
        next unless name == CALLBACK_HEADER

        @callbacks.fire(value)
        first ||= Middlepipe.parse_callback_marker(value)
      end
      answer = verdict.response
      response = build_response.call(answer.status, answer.headers, answer.body)
      return response unless answer.raise_error

      retry_after = answer.headers.find { |name, _| name.casecmp?("Retry-After") }&.last
      raise Middlepipe.error_for(first, response, retry_after&.match?(/\A\d+(\.\d+)?\z/) ? retry_after.to_f : nil)
    end

    # Where a split sends the call: [host, port], or nil to leave it where it was going.
    def destination(verdict, service)
      return nil if verdict.destination_service.empty? || verdict.destination_service == service
      if verdict.destination_endpoints.empty?
        raise IOError, "middlepipe: no endpoint of #{verdict.destination_service} is reachable"
      end

      turn = @turn_lock.synchronize { @turn += 1 }
      verdict.destination_endpoints[turn % verdict.destination_endpoints.size]
    end

    # Reports the outcome; returns every marker for the response the app sees, after
    # firing the callbacks among them.
    def after(verdict, status, started, response_bytes, transport_error = "")
      markers = verdict.markers.dup
      if verdict.respond_to?(:fast_call)
        @fast_path.after(verdict, status, ((monotonic - started) * 1_000_000).to_i, response_bytes) if
          verdict.fast_call
      elsif verdict.call_id.positive?
        latency_us = ((monotonic - started) * 1_000_000).to_i
        request_id = @link.next_request_id
        if verdict.await_response_markers
          reply = @link.round_trip(request_id, Wire.on_response(request_id, verdict.call_id, status, latency_us,
                                                                response_bytes, transport_error, false))
          markers.concat(reply.markers) if reply&.markers
        else
          @link.send_only(Wire.on_response(request_id, verdict.call_id, status, latency_us, response_bytes,
                                           transport_error, true))
        end
      end
      markers.each { |name, value| @callbacks.fire(value) if name == CALLBACK_HEADER }
      markers
    end

    # Starts the clock, after any injected delay's wait (which counts as the service's).
    def start(verdict)
      started = monotonic
      sleep(verdict.delay_ms / 1000.0) if verdict.delay_ms.positive?
      started
    end

    def close
      @link.close
      @fast_path&.close
    end

    private

    def monotonic
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end

  @callbacks = Callbacks.new

  class << self
    # The callbacks Middlepipe.on registers; every hook uses them unless given its own.
    attr_reader :callbacks

    # Calls the block for every Middlepipe-Callback marker with this event (:open,
    # :"half-open", :closed, :limited, …; :* for all).
    def on(event, &block)
      @callbacks.on(event.to_s, &block)
    end
  end
end
