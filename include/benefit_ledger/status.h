// Status: the result of an operation that can fail, as a value (after LevelDB's Status).
//
// A Status is ok, or carries a code, the name of the input field concerned (if any) and a
// human-readable reason. Errors about input name the field by its path in the event, e.g.
// "approval.monthlyAmountFen", so that a writer can find and fix the line. Thread-compatible.
#pragma once

#include <string>
#include <utility>

namespace ledger {

class Status {
 public:
  enum class Code {
    kOk,
    kInvalidArgument,  // The input is malformed or breaks a structural rule.
    kNotFound,         // Something named does not exist.
    kConflict,         // Same event id with other content; wrong expected version.
    kCorruption,       // Stored data does not verify.
    kIOError,          // The disk or the database failed.
    kBusy,             // The ledger is in use by another process.
  };

  Status() = default;  // ok
  static Status Ok() { return Status(); }
  static Status Invalid(std::string field, std::string reason) {
    return Status(Code::kInvalidArgument, std::move(field), std::move(reason));
  }
  static Status NotFound(std::string reason, std::string field = "") {
    return Status(Code::kNotFound, std::move(field), std::move(reason));
  }
  static Status Conflict(std::string field, std::string reason) {
    return Status(Code::kConflict, std::move(field), std::move(reason));
  }
  static Status Corruption(std::string reason) { return Status(Code::kCorruption, "", std::move(reason)); }
  static Status IOError(std::string reason) { return Status(Code::kIOError, "", std::move(reason)); }
  static Status Busy(std::string reason) { return Status(Code::kBusy, "", std::move(reason)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& field() const { return field_; }
  const std::string& reason() const { return reason_; }

  // "field: reason", or just the reason when no field is concerned; "ok" when ok.
  std::string ToString() const {
    if (ok()) return "ok";
    return field_.empty() ? reason_ : field_ + ": " + reason_;
  }

  // Prefixes the field path: "members" + "[2]" -> "members[2]", "members[2]" + "person.number"
  // -> "members[2].person.number" (used while walking a tree).
  Status WithFieldPrefix(const std::string& prefix) const {
    Status s = *this;
    if (prefix.empty()) return s;
    if (s.field_.empty()) {
      s.field_ = prefix;
    } else {
      s.field_ = prefix + (s.field_[0] == '[' ? "" : ".") + s.field_;  // list index: no dot
    }
    return s;
  }

 private:
  Status(Code code, std::string field, std::string reason)
      : code_(code), field_(std::move(field)), reason_(std::move(reason)) {}

  Code code_ = Code::kOk;
  std::string field_;
  std::string reason_;
};

}  // namespace ledger
