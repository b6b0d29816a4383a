#include "tools/report.h"

#include <fmt/format.h>

#include <algorithm>

#include "ledger/formats.h"
#include "ledger/json.h"

namespace tools {

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
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
  else if (name == "csv")
    *out = Format::kCsv;
  else
    return false;
  return true;
}

void Report::Row(std::vector<std::string> cells, std::vector<bool> numeric) {
  std::vector<Cell> row;
  for (size_t i = 0; i < columns_.size(); ++i) {
    row.push_back({i < cells.size() ? std::move(cells[i]) : "", i < numeric.size() && numeric[i]});
  }
  rows_.push_back(std::move(row));
}

void Report::Print(Format format) const {
  if (format == Format::kJson) {
    for (const auto& row : rows_) {
      std::string line = "{";
      for (size_t i = 0; i < columns_.size(); ++i) {
        const Cell& c = row[i];
        std::string value = c.numeric && !c.text.empty() ? c.text : ledger::JsonString(c.text);
        line += fmt::format("{}{}:{}", i ? "," : "", ledger::JsonString(columns_[i]), value);
      }
      fmt::print("{}}}\n", line);
    }
    return;
  }
  if (format == Format::kCsv) {
    std::string header;
    for (size_t i = 0; i < columns_.size(); ++i) header += (i ? "," : "") + CsvField(columns_[i]);
    fmt::print("{}\n", header);
    for (const auto& row : rows_) {
      std::string line;
      for (size_t i = 0; i < row.size(); ++i) line += (i ? "," : "") + CsvField(row[i].text);
      fmt::print("{}\n", line);
    }
    return;
  }
  std::vector<size_t> width(columns_.size());
  for (size_t i = 0; i < columns_.size(); ++i) width[i] = Width(columns_[i]);
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], Width(row[i].text));
  }
  auto print_row = [&](const std::vector<Cell>& row) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      std::string pad(width[i] - Width(row[i].text), ' ');
      line += (i ? "  " : "") + (row[i].numeric ? pad + row[i].text : row[i].text + pad);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    fmt::print("{}\n", line);
  };
  std::vector<Cell> header;
  for (size_t i = 0; i < columns_.size(); ++i)
    header.push_back({columns_[i], rows_.empty() ? false : rows_[0][i].numeric});
  print_row(header);
  for (const auto& row : rows_) print_row(row);
}

std::string Yuan(int64_t fen) {
  std::string sign = fen < 0 ? "-" : "";
  uint64_t abs = fen < 0 ? static_cast<uint64_t>(-(fen + 1)) + 1 : static_cast<uint64_t>(fen);
  return fmt::format("{}{}.{:02}", sign, abs / 100, abs % 100);
}

}  // namespace tools
