// Reconciliation of a bank's result file against the ledger (finance offices).
//
// The file is CSV with a header row naming its columns (names configurable, BankColumns):
// end-to-end id (the ledger's paymentId), amount in yuan ("1234.50"), status (settled /
// credited / success, failed / rejected, returned), reason, bank reference and, optionally, a
// value date (YYYYMMDD or YYYY-MM-DD). ParseBankFile checks all of it first: a malformed file
// is an error naming the line, and nothing is matched or recorded.
//
// Every line gets a category; payments on the rolls the file covers that have no line are
// reported as missing results. Apply (in ledgerctl) records settled, failed and returned events
// for the lines that say so, with event ids derived from the payment and status, so that a
// second run records nothing new.
//
// Sized for a province-month (2.5M lines): a parsed file keeps about 70 bytes a line (its text
// fields end to end, and 32 bytes of numbers and offsets), a reconciliation about 60 more (24
// bytes of results, the household and case ids of its payments, region codes once per thread).
// Lines and matches are handed out as small structs of views, assembled when asked for.
//
// Reconcile reads each payment and each household named once, in key order (a walk, not a point
// read per line), and for a long file in two threads. BankFile and Reconciliation are immutable
// once made, so any number of threads may read them.
#pragma once

#include <capnp/message.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "benefit_ledger/status.h"
#include "ledger/core/store.h"

namespace ledger::reconcile {

struct BankColumns {
  std::string id = "end_to_end_id", amount = "amount", status = "status", reason = "reason",
              reference = "bank_reference", date = "date";
};
// Sets the column names from "id=col,amount=col,…" (keys: id amount status reason reference date).
Status ParseColumns(std::string_view spec, BankColumns* out);

enum class BankStatus : uint8_t { kSettled, kFailed, kReturned };

// One line of a bank file. The text fields are views into its BankFile.
struct BankLine {
  uint32_t line = 0;  // In the file, counting the header as line 1.
  std::string_view payment_id;
  int64_t amount_fen = 0;
  BankStatus status = BankStatus::kSettled;
  std::string_view reason, reference;
  uint32_t date = 0;  // YYYYMMDD, 0 if the file has none.
};

inline constexpr size_t kMaxBankLineBytes = 4096;
inline constexpr size_t kMaxBankLines = 8000000;  // Lines and missing results: a province-month has 2.5M.

// A parsed bank file: its lines, in file order (blank lines and the header aside).
class BankFile {
 public:
  size_t size() const { return lines_.size(); }
  BankLine operator[](size_t i) const;  // Made when asked: a value, not a reference.

 private:
  friend Status ParseBankFile(std::string text, const BankColumns& columns, BankFile* out);
  friend class Reconciler;  // reconcile.cc
  // 32 bytes a line.
  struct Line {
    int64_t amount_fen;
    uint32_t line, date;
    uint32_t fields_at;                             // Where its id, reason and reference are in fields_, end to end.
    uint16_t id_size, reason_size, reference_size;  // Each at most kMaxBankLineBytes.
    BankStatus status;
  };
  std::string fields_;  // Every line's text fields (the file's text, compacted in place).
  std::vector<Line> lines_;
};

// Parses a whole file, taking over its text (not copied). On error *out is empty, and the error
// names the line and the column.
Status ParseBankFile(std::string text, const BankColumns& columns, BankFile* out);

enum class Category : uint8_t {
  kMatched,         // Settled, for the amount issued.
  kFailed,          // The bank could not pay (reason given).
  kReturned,        // Paid, then returned.
  kAmountMismatch,  // The bank's amount is not the amount issued.
  kMissingResult,   // Issued on a roll the file covers, but no line for it.
  kUnknown,         // No such payment in the ledger.
  kDuplicate,       // A second line for the same payment in this file.
  kPaidAfterExit,   // Settled for a month after the case's exit.
};
const char* CategoryName(Category c);

// The ledger's payment, as far as a report and --apply need it. Views into the Reconciliation
// (the id: into its BankFile, for a payment a line names).
struct LedgerPayment {
  std::string_view id, household;
  std::string_view region;  // Its household's region code; empty if the household does not read.
  int64_t amount_fen = 0;   // As issued.
  uint32_t period = 0;      // YYYYMM
  uint16_t programme = 0;   // schema::Programme
};

struct Match {
  Category category = Category::kMatched;
  std::optional<BankLine> line;          // None for a missing result.
  std::optional<LedgerPayment> payment;  // None for an unknown id and a duplicate line.
};

// The matches of every line of a file, in file order, then the missing results (by roll, then
// payment id).
class Reconciliation {
 public:
  size_t size() const { return results_.size() + missing_.size(); }
  Match operator[](size_t i) const;  // Made when asked: keep the Match, not a reference into it.

 private:
  friend class Reconciler;  // reconcile.cc
  static constexpr uint32_t kNone = UINT32_MAX;
  struct Result {  // 24 bytes: the category, and the ledger's facts when it has the payment.
    int64_t amount_fen = 0;
    uint32_t period = 0;
    uint32_t household = kNone;  // Its id in names_; kNone: no payment (unknown, duplicate).
    uint32_t region = kNone;     // Its code in names_; kNone: the household does not read.
    uint16_t programme = 0;
    Category category = Category::kMatched;
  };
  struct Missing {
    Result result;
    uint32_t id = 0;  // Its payment id in names_.
  };
  // Ids and region codes, each followed by a NUL, in chunks of 1 MiB that never move: a name is
  // known by 32 bits (its chunk and its offset in it), and joining the names two threads made
  // copies none.
  class Names {
   public:
    uint32_t Add(std::string_view name);
    const char* operator[](uint32_t at) const;
    // Takes `other`'s names, which are then known by their old 32 bits plus the result.
    uint32_t Join(Names&& other);

   private:
    std::vector<std::string> chunks_;
  };

  const BankFile* file_ = nullptr;
  std::vector<Result> results_;   // One per line of file_.
  std::vector<Missing> missing_;  // Then the missing results.
  Names names_;
};

// Whether a match's result is recorded in the log (matched, failed, returned, paid after exit),
// and the event that records it: paymentSettled, paymentFailed or paymentReturned by `actor`,
// dated the line's value date or else `date`, its id "bank-<payment id>-<status>" so that
// recording a file twice records nothing new. Only for a match that IsRecorded.
bool IsRecorded(const Match& m);
void BankResultEvent(const Match& m, std::string_view actor, uint32_t date, capnp::MessageBuilder* out);

// Matches every line of `file` against the ledger. `file` must outlive *out, where it is (*out
// keeps its address).
Status Reconcile(const Store& store, const BankFile& file, Reconciliation* out);

}  // namespace ledger::reconcile
