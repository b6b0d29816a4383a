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
// Reconcile reads each payment and each household named once, in key order (a walk, not a point
// read per line), and for a long file in two threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/state.h"
#include "ledger/status.h"
#include "ledger/store.h"

namespace ledger::reconcile {

struct BankColumns {
  std::string id = "end_to_end_id", amount = "amount", status = "status", reason = "reason",
              reference = "bank_reference", date = "date";
};
// Sets the column names from "id=col,amount=col,…" (keys: id amount status reason reference date).
Status ParseColumns(std::string_view spec, BankColumns* out);

enum class BankStatus { kSettled, kFailed, kReturned };

struct BankLine {
  size_t line = 0;  // In the file, counting the header as line 1.
  std::string payment_id;
  int64_t amount_fen = 0;
  BankStatus status = BankStatus::kSettled;
  std::string reason, reference;
  uint32_t date = 0;  // YYYYMMDD, 0 if the file has none.
};

inline constexpr size_t kMaxBankLineBytes = 4096;
Status ParseBankFile(std::string_view text, const BankColumns& columns, std::vector<BankLine>* lines);

enum class Category {
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

struct Match {
  Category category = Category::kMatched;
  const BankLine* line = nullptr;         // Null for a missing result.
  std::optional<state::Payment> payment;  // The ledger's payment, when known.
  std::string region;                     // Its household's region code.
};

Status Reconcile(const Store& store, const std::vector<BankLine>& lines, std::vector<Match>* matches);

}  // namespace ledger::reconcile
