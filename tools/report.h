// Report: rows of named columns, printed as a readable table, JSON Lines or CSV. The one
// output path of ledgerctl's reports (roll, totals, reviews, replay).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tools {

enum class Format { kTable, kJson, kCsv };
bool ParseFormat(std::string_view name, Format* out);

class Report {
 public:
  explicit Report(std::vector<std::string> columns) : columns_(std::move(columns)) {}
  // Cells in column order. Numbers are right-aligned in tables and unquoted in JSON.
  void Row(std::vector<std::string> cells, std::vector<bool> numeric);
  void Print(Format format) const;
  size_t size() const { return rows_.size(); }

 private:
  struct Cell {
    std::string text;
    bool numeric = false;
  };
  std::vector<std::string> columns_;
  std::vector<std::vector<Cell>> rows_;
};

// One CSV field, quoted if it holds a comma, quote or line break.
std::string CsvField(const std::string& s);

// Fen as yuan with two decimals: 12345 -> "123.45".
std::string Yuan(int64_t fen);

}  // namespace tools
