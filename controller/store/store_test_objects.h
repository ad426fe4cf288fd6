// Small objects the store tests put (the same on every backend).
#pragma once

#include <string>

#include "proto/middlepipe.pb.h"

namespace middlepipe::controller {

inline v1::Middlepipe Breaker(const std::string& name) {
  v1::Middlepipe middlepipe;
  middlepipe.set_name(name);
  middlepipe.set_kind("circuit-breaker");
  middlepipe.set_config_json(R"({"open_ms":5000})");
  middlepipe.set_generation(1);
  middlepipe.set_created_unix_ms(1000);
  middlepipe.set_updated_unix_ms(2000);
  return middlepipe;
}

inline v1::Binding MakeBinding(const std::string& middlepipe, const std::string& app,
                               const std::string& service, int position) {
  v1::Binding binding;
  binding.set_middlepipe(middlepipe);
  binding.set_app(app);
  binding.set_service(service);
  binding.set_position(position);
  return binding;
}

}  // namespace middlepipe::controller
