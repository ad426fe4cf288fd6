# frozen_string_literal: true

require "faraday"
require "middlepipe/hook"

module Middlepipe
  # Faraday middleware: `Faraday.new(url) { |f| f.use Middlepipe::FaradayMiddleware }`
  # (or `f.use :middlepipe`). Options as Middlepipe.install's, or hook: a Hook.
  class FaradayMiddleware < Faraday::Middleware
    def initialize(app, hook: nil, socket_path: nil, services: {}, callbacks: nil, fast_path: true)
      super(app)
      @hook = hook || Hook.new(socket_path: socket_path, services: services, callbacks: callbacks, fast_path: fast_path)
    end

    def call(env)
      service = @hook.service_for(env.url.host, env.url.port)
      return @app.call(env) if service.nil?

      verdict = @hook.before(service, env.method.to_s.upcase, env.url.request_uri, env.request_headers.to_a)
      return @app.call(env) unless verdict # fail open

      return @hook.respond(verdict, ->(status, headers, body) { synthesized(env, status, headers, body) }) if
        verdict.action == Wire::ACTION_RESPOND

      verdict.remove_headers.each { |name| env.request_headers.delete(name) }
      verdict.set_headers.each { |name, value| env.request_headers[name] = value }
      if (target = @hook.destination(verdict, service))
        env.url = env.url.dup.tap do |url|
          url.host = target[0]
          url.port = target[1]
        end
      end
      started = @hook.start(verdict)
      begin
        # Faraday's Net::HTTP adapter must not run the call through the Net::HTTP hook
        # again when both are installed.
        outer = Thread.current[:middlepipe_inside]
        Thread.current[:middlepipe_inside] = true
        response = @app.call(env)
      rescue Faraday::ConnectionFailed, Faraday::TimeoutError => e
        @hook.after(verdict, 0, started, 0, e.message)
        raise
      ensure
        Thread.current[:middlepipe_inside] = outer
      end
      response.on_complete do |done|
        @hook.after(verdict, done.status.to_i, started, done.body.to_s.bytesize).each do |name, value|
          existing = done.response_headers[name]
          done.response_headers[name] = existing ? "#{existing}, #{value}" : value
        end
      end
    end

    private

    def synthesized(env, status, headers, body)
      env.status = status
      env.reason_phrase = "Middlepipe"
      env.response_headers = Faraday::Utils::Headers.new
      headers.each { |name, value| env.response_headers[name] = value }
      env.body = body
      Faraday::Response.new(env)
    end
  end

  Faraday::Middleware.register_middleware(middlepipe: FaradayMiddleware) if
    Faraday::Middleware.respond_to?(:register_middleware)
end
