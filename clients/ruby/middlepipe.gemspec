# frozen_string_literal: true

require_relative "lib/middlepipe/version"

Gem::Specification.new do |spec|
  spec.name = "middlepipe"
  spec.version = Middlepipe::VERSION
  spec.summary = "Client hook for middlepipes: Net::HTTP and Faraday calls through the app's network functions"
  spec.authors = ["middlepipe"]
  spec.license = "Apache-2.0"
  spec.files = Dir["lib/**/*.rb"]
  spec.require_paths = ["lib"]
  spec.required_ruby_version = ">= 2.7"
  # Faraday is optional: require "middlepipe/faraday" only where it is installed.
end
