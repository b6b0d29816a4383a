#include "report.h"

#include <fmt/format.h>

#include <algorithm>

#include "benefit_ledger/format.h"
#include "benefit_ledger/results.h"

namespace tools {

std::string CsvField(const std::string& s) {
  return ledger::CsvField(s);
}

namespace {

// Display width: CJK characters take two columns.
size_t Width(const std::string& s) {
  size_t w = 0;
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : c >> 5 == 6 ? 2 : c >> 4 == 14 ? 3 : 4;
    w += len >= 3 ? 2 : 1;
    i += len;
  }
  return w;
}

}  // namespace

bool ParseFormat(std::string_view name, Format* out) {
  if (name == "table")
    *out = Format::kTable;
  else if (name == "json")
    *out = Format::kJson;
  else if (name == "jsonl")
    *out = Format::kJsonl;
  else if (name == "csv")
    *out = Format::kCsv;
  else
    return false;
  return true;
}

Report::Report(std::vector<std::string> columns) : columns_(std::move(columns)) {
  for (const auto& c : columns_) width_.push_back(Width(c));
}

void Report::Row(std::vector<std::string> cells, std::vector<bool> numeric) {
  Fit(cells);
  std::vector<Cell> row;
  for (size_t i = 0; i < columns_.size(); ++i) {
    row.push_back({i < cells.size() ? std::move(cells[i]) : "", i < numeric.size() && numeric[i]});
  }
  rows_.push_back(std::move(row));
}

void Report::Fit(const std::vector<std::string>& cells) {
  for (size_t i = 0; i < columns_.size() && i < cells.size(); ++i) width_[i] = std::max(width_[i], Width(cells[i]));
}

void Report::Print(Format format) const {
  std::vector<bool> numeric;  // A table's header is aligned as its first row.
  if (!rows_.empty()) {
    for (const auto& c : rows_[0]) numeric.push_back(c.numeric);
  }
  PrintHeader(format, numeric);
  for (const auto& row : rows_) PrintCells(row, format);
}

void Report::PrintHeader(Format format, const std::vector<bool>& numeric) const {
  if (format == Format::kCsv) {
    std::string header;
    for (size_t i = 0; i < columns_.size(); ++i) header += (i ? "," : "") + CsvField(columns_[i]);
    fmt::print("{}\n", header);
    return;
  }
  PrintRow(columns_, numeric, format);
}

void Report::PrintRow(const std::vector<std::string>& cells, const std::vector<bool>& numeric, Format format) const {
  std::vector<Cell> row;
  for (size_t i = 0; i < columns_.size(); ++i) {
    row.push_back({i < cells.size() ? cells[i] : "", i < numeric.size() && numeric[i]});
  }
  PrintCells(row, format);
}

void Report::PrintCells(const std::vector<Cell>& row, Format format) const {
  std::string line;
  if (format == Format::kCsv) {
    for (size_t i = 0; i < row.size(); ++i) line += (i ? "," : "") + CsvField(row[i].text);
    fmt::print("{}\n", line);
    return;
  }
  for (size_t i = 0; i < row.size(); ++i) {
    std::string pad(std::max(width_[i], Width(row[i].text)) - Width(row[i].text), ' ');
    line += (i ? "  " : "") + (row[i].numeric ? pad + row[i].text : row[i].text + pad);
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  fmt::print("{}\n", line);
}

void PrintResult(capnp::DynamicStruct::Reader result, Format format, std::string_view streamed_list,
                 const std::function<void(const std::function<void(capnp::DynamicStruct::Reader)>&)>& stream) {
  auto mode = format == Format::kJsonl ? ledger::json::Mode::kLines : ledger::json::Mode::kDocument;
  ledger::json::WriteResult(
      result, mode, [](std::string_view text) { fmt::print("{}", text); }, streamed_list, stream);
  fflush(stdout);
}

std::string Yuan(int64_t fen) {
  return ledger::FormatYuan(fen);
}

}  // namespace tools
