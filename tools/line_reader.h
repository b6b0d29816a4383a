// LineReader: reads newline-terminated lines from a file descriptor with a bound on line length.
//
// A line longer than the bound is not kept in memory: it is skipped up to its newline and
// reported as too long, so one huge or binary line cannot exhaust memory or stop the lines
// after it. Single-threaded.
#pragma once

#include <cstddef>
#include <string>

namespace tools {

class LineReader {
 public:
  enum class Result { kLine, kTooLong, kEnd, kError };

  LineReader(int fd, size_t max_line_bytes) : fd_(fd), max_line_bytes_(max_line_bytes) {}

  // Next line without its "\n" (and without a "\r" before it). Line numbers count from 1 and
  // include too-long lines. kError leaves errno set.
  Result Next(std::string* line);
  size_t line_number() const { return line_number_; }
  // True when a whole line is already buffered or the input has bytes ready now: the caller
  // may read on without waiting. Used to close a commit group when the writer pauses.
  bool MoreReadyNow() const;

 private:
  bool Fill();  // Reads more input; false at end of input or error.

  int fd_;
  size_t max_line_bytes_;
  std::string buffer_;
  size_t start_ = 0;  // Unconsumed bytes are buffer_[start_..].
  size_t line_number_ = 0;
  bool eof_ = false;
  bool error_ = false;
};

}  // namespace tools
