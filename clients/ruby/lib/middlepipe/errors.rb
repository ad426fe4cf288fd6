# frozen_string_literal: true

module Middlepipe
  # A middlepipe stopped the call and has no fallback configured. kind, middlepipe, event
  # and detail come from its Middlepipe-Callback marker; response is what it answered.
  class Error < StandardError
    attr_reader :kind, :middlepipe, :event, :detail, :response

    def initialize(kind, middlepipe, event = "", detail = "", response = nil)
      super("#{kind} #{middlepipe}: #{event}#{detail.to_s.empty? ? '' : " (#{detail})"}")
      @kind = kind
      @middlepipe = middlepipe
      @event = event
      @detail = detail
      @response = response
    end
  end

  # A circuit breaker is open (or half-open with its trials taken): the service was not called.
  class CircuitOpenError < Error; end

  # A rate limit refused the call; retry_after is in seconds (nil if not given).
  class RateLimitedError < Error
    attr_accessor :retry_after
  end

  # A fault-inject middlepipe aborted the call (a rehearsal).
  class FaultInjectedError < Error; end

  # The error for a kind.
  def self.error_for(event, response, retry_after)
    kind = event ? event.kind : "middlepipe"
    args = [kind, event&.middlepipe.to_s, event&.event.to_s, event&.detail.to_s, response]
    case kind
    when "circuit-breaker" then CircuitOpenError.new(*args)
    when "rate-limit" then RateLimitedError.new(*args).tap { |e| e.retry_after = retry_after }
    when "fault-inject" then FaultInjectedError.new(*args)
    else Error.new(*args)
    end
  end
end
