# frozen_string_literal: true

module Middlepipe
  VERSION = "0.1.0"
end
