#include "line_reader.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace tools {

bool LineReader::Fill() {
  if (eof_ || error_) return false;
  if (start_ > 0) {  // Compact: keep only the unconsumed tail.
    buffer_.erase(0, start_);
    start_ = 0;
  }
  char chunk[1 << 16];
  ssize_t n;
  do {
    n = ::read(fd_, chunk, sizeof chunk);
  } while (n < 0 && errno == EINTR);
  if (n < 0) error_ = true;
  if (n == 0) eof_ = true;
  if (n <= 0) return false;
  buffer_.append(chunk, static_cast<size_t>(n));
  return true;
}

LineReader::Result LineReader::Next(std::string* line) {
  bool too_long = false;
  for (;;) {
    size_t nl = buffer_.find('\n', start_);
    if (nl != std::string::npos) {
      ++line_number_;
      size_t end = nl > start_ && buffer_[nl - 1] == '\r' ? nl - 1 : nl;
      too_long = too_long || end - start_ > max_line_bytes_;
      if (!too_long) line->assign(buffer_, start_, end - start_);
      start_ = nl + 1;
      return too_long ? Result::kTooLong : Result::kLine;
    }
    if (buffer_.size() - start_ > max_line_bytes_) {  // Drop what we have; keep scanning for "\n".
      too_long = true;
      start_ = buffer_.size();
    }
    if (!Fill()) {
      if (error_) return Result::kError;
      if (buffer_.size() == start_ && !too_long) return Result::kEnd;
      ++line_number_;  // A last line without "\n".
      if (!too_long) line->assign(buffer_, start_, buffer_.size() - start_);
      start_ = buffer_.size();
      return too_long ? Result::kTooLong : Result::kLine;
    }
  }
}

bool LineReader::MoreReadyNow() const {
  if (buffer_.find('\n', start_) != std::string::npos || eof_) return true;
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

}  // namespace tools
