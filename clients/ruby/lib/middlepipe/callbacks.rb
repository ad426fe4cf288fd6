# frozen_string_literal: true

module Middlepipe
  CALLBACK_HEADER = "Middlepipe-Callback"

  # One Middlepipe-Callback marker.
  CallbackEvent = Struct.new(:kind, :middlepipe, :event, :detail, keyword_init: true)

  PARAMETER = /\G\s*;?\s*([a-z_]+)=("([^"]*)"|[^;]*)/.freeze

  # `kind; name="…"; event=…[; detail="…"]` (quoted values may hold ';'), or nil.
  def self.parse_callback_marker(value)
    kind, rest = value.to_s.split(";", 2)
    kind = kind.to_s.strip
    rest = rest.to_s.strip
    return nil if rest.count('"').odd?

    parameters = {}
    pos = 0
    while pos < rest.length
      match = PARAMETER.match(rest, pos)
      return nil if match.nil? || match.end(0) == pos

      parameters[match[1]] = match[3] || match[2].strip
      pos = match.end(0)
    end
    return nil if kind.empty? || parameters["event"].to_s.empty?

    CallbackEvent.new(kind: kind, middlepipe: parameters.fetch("name", ""), event: parameters["event"],
                      detail: parameters.fetch("detail", ""))
  end

  # Callbacks by event name ("*" for every event).
  class Callbacks
    def initialize
      @lock = Mutex.new
      @by_event = Hash.new { |hash, key| hash[key] = [] }
    end

    def on(event, &block)
      @lock.synchronize { @by_event[event.to_s] << block }
    end

    def fire(marker_value)
      event = Middlepipe.parse_callback_marker(marker_value)
      return unless event

      matching = @lock.synchronize { @by_event[event.event] + @by_event["*"] }
      matching.each { |callback| callback.call(event) } # outside the lock
    end
  end
end
