// The output of ledgerctl's reports. JSON (one document) and JSON Lines are the result
// records of include/benefit_ledger/results.capnp, written by benefit_ledger/results.h (PrintResult); tables
// and CSV are rows of named columns (Report), made from the same records where they can be.
#pragma once

#include <capnp/dynamic.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace tools {

enum class Format { kTable, kJson, kJsonl, kCsv };
bool ParseFormat(std::string_view name, Format* out);
inline constexpr const char* kFormats = "table, json, jsonl or csv";
inline bool IsJson(Format f) {
  return f == Format::kJson || f == Format::kJsonl;
}

// Prints a result record (json: one document, jsonl: one record a line) to standard output.
// `streamed_list` and `stream`: as ledger::json::WriteResult, for a list too long to hold.
void PrintResult(capnp::DynamicStruct::Reader result, Format format, std::string_view streamed_list = "",
                 const std::function<void(const std::function<void(capnp::DynamicStruct::Reader)>&)>& stream = nullptr);

class Report {
 public:
  explicit Report(std::vector<std::string> columns);
  // Cells in column order. Numbers are right-aligned in tables. Format is table or csv.
  void Row(std::vector<std::string> cells, std::vector<bool> numeric);
  void Print(Format format) const;
  size_t size() const { return rows_.size(); }

  // A report too long to hold (reconcile: a row per line of a bank file) is printed row by row
  // instead: Fit every row first (a table's column is as wide as its widest cell), then
  // PrintHeader, then PrintRow every row again. The output is Print's, for the same rows.
  void Fit(const std::vector<std::string>& cells);
  void PrintHeader(Format format, const std::vector<bool>& numeric) const;
  void PrintRow(const std::vector<std::string>& cells, const std::vector<bool>& numeric, Format format) const;

 private:
  struct Cell {
    std::string text;
    bool numeric = false;
  };
  void PrintCells(const std::vector<Cell>& row, Format format) const;

  std::vector<std::string> columns_;
  std::vector<std::vector<Cell>> rows_;
  std::vector<size_t> width_;  // Of each column in a table: its widest cell so far, header included.
};

// One CSV field, quoted if it holds a comma, quote or line break.
std::string CsvField(const std::string& s);

// Fen as yuan with two decimals: 12345 -> "123.45".
std::string Yuan(int64_t fen);

}  // namespace tools
