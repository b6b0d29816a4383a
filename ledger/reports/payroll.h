// Payroll (发放): a county's monthly payment roll, generated from the ledger's own state, and the
// bank instruction file of a roll.
//
// Plan looks at every case of the programme in the county and asks the rules module
// (rules::PayableFor, the one place that says what may be paid) what the case may be paid for
// the month. Every payable case with a card on file that has no payment for the month yet gets
// a line: the entitlement in force, paid to the card on file (given at application, or the one
// paid last), named by its keyed hash (identity.h: the ledger never holds the number).
//
// The roll id is derived from county, programme and month (RollIdFor), and each payment id
// from the month and case, so issuing twice issues nothing new: once the roll exists, Plan
// says so and proposes no events. Events appends the roll and its payments as one
// all-or-nothing group (Log::GroupMode::kAllOrNothing): a roll is never half issued.
#pragma once

#include <capnp/message.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "benefit_ledger/event.capnp.h"
#include "benefit_ledger/results.h"
#include "benefit_ledger/status.h"
#include "ledger/core/log.h"

namespace ledger::payroll {

using Request = ledger::PayrollRequest;  // benefit_ledger/results.h

struct Line {  // One payment of the roll.
  std::string payment_id, household, case_id;
  int64_t amount_fen = 0;
  std::string card_hash, card_masked, payee_name;
};

struct Skipped {  // A case that could be paid this month but is not on the roll, and why.
  std::string household, case_id, reason;
};

struct Plan {
  std::string roll_id;
  bool roll_exists = false;  // Issued before: nothing is issued now.
  std::vector<Line> lines;   // Payable and unpaid (if the roll exists: left off it).
  std::vector<Skipped> skipped;
  uint32_t already_paid = 0;  // Cases paid for the month on another roll.
  int64_t control_sum_fen = 0;
};

std::string RollIdFor(const std::string& county, schema::Programme programme, uint32_t period);

// Checks the request (county known, programme paid on monthly rolls, a quarter's first month for
// quarterly ones) and plans the roll. Errors name the field of the request
// ("county", "programme", "period").
Status MakePlan(const Log& ledger, const Request& request, Plan* plan);

// The events of a plan that has lines and no roll yet: paymentRollIssued, then one
// paymentIssued per line, event ids "roll-<roll id>" and the payment ids.
std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> Events(const Plan& plan, const Request& request);

// An issued roll as the bank instruction file shows it (ledgerctl payroll export): the roll and
// every payment on it that was not voided, in payment id order, with the masked card and payee
// name read from the payment's own entry.
struct IssuedRoll {
  std::string roll_id, county;
  uint16_t programme = 0;
  uint32_t period = 0;
  std::vector<Line> lines;
  int64_t sum_fen = 0;
};
Status ReadRoll(const Log& ledger, const std::string& roll_id, IssuedRoll* roll);

// The roll's bank instruction file, CSV: a header record (roll_id, county, programme, period,
// line_count, control_sum), then end_to_end_id, card (masked), payee_name and amount for each
// payment. Amounts in yuan.
std::string BankInstructionCsv(const IssuedRoll& roll);

}  // namespace ledger::payroll
