# frozen_string_literal: true

require "net/http"
require "middlepipe/hook"

module Middlepipe
  # The Net::HTTP hook: prepended to Net::HTTP by Middlepipe.install, it runs every request
  # of the process through the app's middlepipes (Net::HTTP has no per-client middleware,
  # so the hook is process-wide, like the prepend itself).
  module NetHTTP
    class << self
      attr_accessor :hook
    end

    def request(req, body = nil, &block)
      hook = NetHTTP.hook
      # Net::HTTP#request calls itself once more after starting the connection: hook once.
      return super if hook.nil? || !started? || Thread.current[:middlepipe_inside]

      service = hook.service_for(address, port)
      return super if service.nil?

      verdict = hook.before(service, req.method, req.path, req.each_capitalized.to_a)
      return super unless verdict # fail open

      if verdict.action == Wire::ACTION_RESPOND
        return hook.respond(verdict, ->(status, headers, content) { NetHTTP.synthesized(status, headers, content) })
      end

      verdict.remove_headers.each { |name| req.delete(name) }
      verdict.set_headers.each { |name, value| req[name] = value }
      target = hook.destination(verdict, service)
      started = hook.start(verdict)
      begin
        response = target ? NetHTTP.elsewhere(target, req, body, &block) : super
      rescue SystemCallError, IOError, Timeout::Error, SocketError => e
        hook.after(verdict, 0, started, 0, e.message)
        raise
      end
      size = block ? 0 : response.body.to_s.bytesize
      hook.after(verdict, response.code.to_i, started, size).each { |name, value| response.add_field(name, value) }
      response
    end

    # The request sent to a split's chosen endpoint instead, on a connection of its own.
    def self.elsewhere(target, req, body, &block)
      outer = Thread.current[:middlepipe_inside]
      Thread.current[:middlepipe_inside] = true
      Net::HTTP.start(target[0], target[1]) { |http| http.request(req, body, &block) }
    ensure
      Thread.current[:middlepipe_inside] = outer
    end

    # A Net::HTTPResponse made by a middlepipe instead of the service.
    def self.synthesized(status, headers, content)
      klass = Net::HTTPResponse::CODE_TO_OBJ[status.to_s] ||
              Net::HTTPResponse::CODE_CLASS_TO_OBJ[status.to_s[0]] || Net::HTTPUnknownResponse
      response = klass.new("1.1", status.to_s, "Middlepipe")
      headers.each { |name, value| response.add_field(name, value) }
      response.instance_variable_set(:@body, content.dup.force_encoding(Encoding::UTF_8))
      response.instance_variable_set(:@read, true)
      response
    end
  end

  # Runs every Net::HTTP request of the process through the app's middlepipes.
  # services: {"10.0.0.7:8080" => "orders"} for hosts whose first label is not the
  # service's name; fast_path: false asks the agent's socket for every call. Returns the
  # hook.
  def self.install(socket_path: nil, services: {}, callbacks: nil, fast_path: true)
    NetHTTP.hook = Hook.new(socket_path: socket_path, services: services, callbacks: callbacks, fast_path: fast_path)
    Net::HTTP.prepend(NetHTTP) unless Net::HTTP.ancestors.include?(NetHTTP)
    NetHTTP.hook
  end

  # Stops hooking Net::HTTP (the prepend stays, inert).
  def self.uninstall
    NetHTTP.hook&.close
    NetHTTP.hook = nil
  end
end
