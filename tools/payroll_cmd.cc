// ledgerctl payroll: issue a county's monthly roll from the ledger, export its bank file.

#include <fmt/format.h>

#include "benefit_ledger/format.h"
#include "benefit_ledger/ledger.h"
#include "benefit_ledger/results.h"
#include "commands.h"
#include "report.h"
#include "source.h"

namespace tools {
namespace {

using ledger::Status;

const char* const kCommand = "payroll";

std::optional<ledger::PayrollRequest> ParseRequest(const Flags& flags) {
  ledger::PayrollRequest r;
  auto county = Required(flags, "county", kCommand);
  auto programme = county ? Required(flags, "programme", kCommand) : std::nullopt;
  auto actor = programme ? Required(flags, "actor", kCommand) : std::nullopt;
  auto period = actor ? Required(flags, "period", kCommand) : std::nullopt;
  if (!period) return std::nullopt;
  auto parsed = ledger::ParseProgramme(*programme);
  if (!parsed) {
    fmt::print(stderr, "ledgerctl payroll: unknown --programme \"{}\" (e.g. urban_dibao, rural_dibao)\n", *programme);
    return std::nullopt;
  }
  std::string month = *period;  // YYYY-MM or YYYYMM
  if (month.size() == 7 && month[4] == '-') month.erase(4, 1);
  auto p = ParseDateFlag({{"period", month}}, "period", kCommand, 0, true);
  auto date = p ? ParseDateFlag(flags, "date", kCommand, Today()) : std::nullopt;
  if (!date) return std::nullopt;
  r.county = *county;
  r.programme = static_cast<ledger::schema::Programme>(*parsed);
  r.period = *p;
  r.actor_id = *actor;
  r.date = *date;
  return r;
}

// The plan's lines and, in a table, the cases left off, from its result record.
void PrintPlan(ledger::results::PayrollResult::Reader plan, Format format) {
  Report lines({"end_to_end_id", "household", "case", "card", "payee", "amount yuan"});
  for (auto l : plan.getLines()) {
    lines.Row({l.getEndToEndId(), l.getHousehold(), l.getCaseId(), l.getCardMasked(), l.getPayeeName(),
               Yuan(l.getAmountFen())},
              {false, false, false, false, false, true});
  }
  lines.Print(format);
  if (format != Format::kTable || plan.getSkipped().size() == 0) return;
  fmt::print("\nnot on the roll:\n");
  Report skipped({"household", "case", "why"});
  for (auto s : plan.getSkipped()) skipped.Row({s.getHousehold(), s.getCaseId(), s.getReason()}, {false, false, false});
  skipped.Print(format);
}

int RunIssue(const Flags& flags) {
  auto dir = Required(flags, "dir", kCommand);
  auto request = dir ? ParseRequest(flags) : std::nullopt;
  Format format = Format::kTable;
  if (!request) return kExitCannot;
  if (flags.count("format") && !ParseFormat(flags.at("format"), &format)) {
    fmt::print(stderr, "ledgerctl payroll: --format is {}, not \"{}\"\n", kFormats, flags.at("format"));
    return kExitCannot;
  }
  bool dry_run = flags.count("dry-run") && flags.at("dry-run") != "no";
  ledger::note::KeyPair key;
  if (flags.count("key") && !ReadSignerKeyFile(flags.at("key"), &key, kCommand)) return kExitCannot;
  int code = kExitOk;
  auto l = OpenSource(*dir, kCommand, &code, dry_run ? Access::kReading : Access::kWriting);
  if (!l) return code;
  capnp::MallocMessageBuilder message;
  auto result = message.initRoot<ledger::results::PayrollResult>();
  std::string refusal;
  Status s = l->IssuePayroll(*request, dry_run, flags.count("key") ? &key : nullptr, result, &refusal);
  if (!s.ok()) return Fail(kCommand, s, {"county", "programme", "period"});
  // JSON is one document with the outcome in it: printed once the roll is issued (or not). A
  // table shows the lines first, then what happened.
  bool json = IsJson(format);
  if (!json) PrintPlan(result.asReader(), format);
  auto* out = format == Format::kTable ? stdout : stderr;  // Keep JSON and CSV output clean.
  using Outcome = ledger::results::PayrollOutcome;
  Outcome outcome = result.getOutcome();
  size_t lines = result.getLines().size();
  if (outcome == Outcome::ISSUED_BEFORE) {
    fmt::print(out, "roll {} was issued before: nothing issued{}\n", result.getRollId().cStr(),
               lines == 0 ? "" : fmt::format(" ({} payable cases above are not on it)", lines));
  } else if (result.getAlreadyPaid() > 0) {
    fmt::print(out, "{} already paid for the month on other rolls\n",
               ledger::Counted(result.getAlreadyPaid(), "case", "cases"));
  }
  if (outcome == Outcome::NOTHING_DUE) fmt::print(out, "no payable case: nothing issued\n");
  if (outcome == Outcome::DRY_RUN) fmt::print(out, "dry run: roll {} not issued\n", result.getRollId().cStr());
  if (outcome == Outcome::REFUSED) {
    fmt::print(stderr, "ledgerctl payroll: nothing issued: {}\n", ForCommandLine(refusal));
    code = kExitNo;
  }
  if (outcome == Outcome::ISSUED && !json) {
    fmt::print("issued roll {}: {} payments, {} yuan, by {} on {}, entries {} to {}\n", result.getRollId().cStr(),
               lines, Yuan(result.getControlSumFen()), request->actor_id, request->date, result.getFirstSeq(),
               result.getLastSeq());
  }
  if (json) PrintResult(result.asReader(), format);
  return code;
}

int RunExport(const Flags& flags) {
  auto dir = Required(flags, "dir", kCommand);
  auto roll_id = dir ? Required(flags, "roll", kCommand) : std::nullopt;
  auto path = roll_id ? Required(flags, "out", kCommand) : std::nullopt;
  if (!path) return kExitCannot;
  int code = kExitOk;
  auto l = OpenSource(*dir, kCommand, &code, Access::kReading);
  if (!l) return code;
  ledger::RollFile roll;
  Status s = l->ExportRoll(*roll_id, &roll);
  if (!s.ok()) return Fail(kCommand, s, {"roll_id=roll"});
  if (!WriteFileAtomically(*path, roll.csv, kCommand)) return kExitCannot;
  fmt::print("wrote {}: roll {}, {} payments, {} yuan\n", *path, *roll_id, roll.payments, Yuan(roll.sum_fen));
  return kExitOk;
}

}  // namespace

const char* const kPayrollUsage =
    "usage: ledgerctl payroll issue --dir D --county C --programme P --period YYYY-MM --actor A\n"
    "                               [--key A.key] [--date YYYYMMDD] [--dry-run yes] [--format table|json|jsonl|csv]\n"
    "       ledgerctl payroll export --dir D --roll R --out F.csv\n\n"
    "issue: generates the month's payment roll of county C (6 digits) for programme P from the\n"
    "ledger: one payment for every case the rules say is payable that month (approved, not\n"
    "suspended or exited, review not overdue) and not paid yet, for the entitlement in force, to\n"
    "the card on file (given at application or paid to last). Appends the roll (line count and\n"
    "control sum) and its payments as one all-or-nothing group by actor A (a finance officer),\n"
    "dated --date (default today). The roll id is R-C-P-YYYYMM: running it again issues nothing.\n"
    "Prints the lines, the cases left off and why. --dry-run yes prints without issuing. If A has\n"
    "a public key in the ledger, the roll must be signed: --key is A's signer key (ledgerctl sign);\n"
    "with --server it signs here and only the signature is sent.\n"
    "--format json prints one JSON document once done: the lines, the cases left off and the\n"
    "outcome (issued with its entries, issued_before, nothing_due, dry_run or refused); jsonl one\n"
    "record a line. Exit 0 if issued or nothing was due, 1 if the ledger refused the roll, 2 on\n"
    "bad options.\n\n"
    "export: writes roll R's bank instruction file as CSV: a header record (roll_id, county,\n"
    "programme, period, line_count, control_sum) then end_to_end_id, card (masked: the ledger\n"
    "never holds card numbers; the bank pays the account it has on file for it), payee_name and\n"
    "amount for each payment not voided. Amounts in yuan. The file is written whole or not at all.\n";

int RunPayroll(const Flags& flags, const Positional& positional) {
  std::string what = positional.empty() ? "" : positional.front();
  if (positional.size() == 1 && what == "issue") return RunIssue(flags);
  if (positional.size() == 1 && what == "export") return RunExport(flags);
  fmt::print(stderr, "ledgerctl payroll: say issue or export (see ledgerctl payroll --help)\n");
  return kExitCannot;
}

}  // namespace tools
