# frozen_string_literal: true

# middlepipe: the Ruby client hook. Net::HTTP (Middlepipe.install) and Faraday
# (Middlepipe::FaradayMiddleware) calls pass through the app's middlepipes; markers become
# callbacks (Middlepipe.on) and errors (Middlepipe::CircuitOpenError, …).
require "middlepipe/version"
require "middlepipe/errors"
require "middlepipe/callbacks"
require "middlepipe/hook"
require "middlepipe/net_http"
