// Plain-text tables for the CLI's human output: a header row and aligned columns,
// two spaces apart, like kubectl and cf print them.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace middlepipe::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}

  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.size() == 1; }
  void Print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace middlepipe::cli
