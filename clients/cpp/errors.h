// The typed errors the C++ client hook raises for middlepipe decisions.
#pragma once

#include <stdexcept>
#include <string>

namespace middlepipe {

// Base of every error a middlepipe makes the hook raise.
class MiddlepipeError : public std::runtime_error {
 public:
  MiddlepipeError(std::string kind, std::string middlepipe, const std::string& message)
      : std::runtime_error(message), kind_(std::move(kind)), middlepipe_(std::move(middlepipe)) {}
  // The middlepipe's kind, e.g. "circuit-breaker".
  const std::string& kind() const { return kind_; }
  // The middlepipe's name, e.g. "orders-breaker".
  const std::string& middlepipe() const { return middlepipe_; }

 private:
  std::string kind_;
  std::string middlepipe_;
};

// A circuit breaker is open: the call was not sent.
class CircuitOpenError : public MiddlepipeError {
 public:
  using MiddlepipeError::MiddlepipeError;
};

// A rate limit was reached: the call was not sent.
class RateLimitedError : public MiddlepipeError {
 public:
  using MiddlepipeError::MiddlepipeError;
};

}  // namespace middlepipe
