# Benefit Ledger event schema: the contract between the bureaus that write events and everyone
# who reads them. Every field says what it means and in which unit.
#
# Conventions
#   - Money is integer fen (1 yuan = 100 fen), in Int64 fields named *Fen. Never negative.
#   - Dates are UInt32 YYYYMMDD (20240315), periods (months) are UInt32 YYYYMM (202403).
#     0 means "not given" where a field is optional.
#   - Region codes are the 12-digit statistical codes as text ("341502001001"); a region prefix
#     is 2, 4, 6, 9 or 12 of those digits (province, city, county, township, village).
#   - Identity and bank-card numbers never appear in full in a stored event: the writer gives
#     `number`, the ledger replaces it by `masked` and `keyedHash` before anything is stored
#     (see ledger/identity.h). A stored event with `number` set is corrupt.
#   - In JSON, 64-bit integers are written as strings by the encoder (JSON numbers are doubles);
#     the decoder accepts a number or a string.
#
# Evolution rule (never break old entries: their bytes are hashed into the chain forever)
#   - Add fields and union members only, each with the next unused ordinal (@N).
#   - Never renumber, remove, rename in a way that changes meaning, retype, or change a default.
#   - A new event kind is a new member of Event's union with a new ordinal.
#   - tests/schema_test.cc keeps entries encoded by the first schema (tests/data/entries_v1.txt)
#     and checks that they still read and still hash to the same value.

@0xb2b976e5da633c24;

using Json = import "/capnp/compat/json.capnp";
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ledger::schema");

# ---------------------------------------------------------------------------------------------
# Vocabulary

enum Programme {
  # The assistance programmes of ../shared/DOMAIN.md. JSON names are the DOMAIN code names.
  unspecified @0 $Json.name("unspecified");
  urbanDibao @1 $Json.name("urban_dibao");                    # 城市低保, monthly
  ruralDibao @2 $Json.name("rural_dibao");                    # 农村低保, monthly
  tekunCentralised @3 $Json.name("tekun_centralised");        # 特困供养 集中, monthly
  tekunDispersed @4 $Json.name("tekun_dispersed");            # 特困供养 分散, monthly
  temporary @5 $Json.name("temporary");                       # 临时救助, one-off
  orphanInstitutional @6 $Json.name("orphan_institutional");  # 孤儿 机构养育, monthly
  orphanDispersed @7 $Json.name("orphan_dispersed");          # 孤儿 分散养育, monthly
  unsupportedChild @8 $Json.name("unsupported_child");        # 事实无人抚养儿童, monthly
  disabilityLiving @9 $Json.name("disability_living");        # 困难残疾人生活补贴, monthly
  disabilityCare @10 $Json.name("disability_care");           # 重度残疾人护理补贴, monthly
  elderlyAllowance @11 $Json.name("elderly_allowance");       # 高龄津贴
  elderlyService @12 $Json.name("elderly_service");           # 低收入老年人养老服务补贴, quarterly
}

struct PersonId {
  # An 18-character resident identity number (身份证号).
  number @0 :Text;               # Input only: the full number. Cleared by the ledger on the way in.
  masked @1 :Text;               # Set by the ledger: first 6 and last 4 characters, e.g. 341502********1234.
  keyedHash @2 :Data $Json.hex;  # Set by the ledger: HMAC-SHA256(ledger secret, "id:" ‖ number), 32 bytes.
}

struct BankCard {
  # A bank card / account number of the one-card system (惠农补贴一卡通), 12 to 19 digits.
  number @0 :Text;               # Input only: the full number. Cleared by the ledger on the way in.
  masked @1 :Text;               # Set by the ledger: first 4 and last 4 digits, e.g. 6228********1234.
  keyedHash @2 :Data $Json.hex;  # Set by the ledger: HMAC-SHA256(ledger secret, "card:" ‖ number), 32 bytes.
  onFile @3 :Bool;               # Set by the ledger: the writer named, by `keyedHash` and `masked` instead of
                                 # `number`, a card already on file for the household (rules check it is).
}

enum Relation {
  # A member's relation to the head of the household.
  head @0; spouse @1; child @2; parent @3; grandchild @4; grandparent @5; sibling @6; other @7;
}

struct Member {
  person @0 :PersonId;
  name @1 :Text;                 # Name as recorded (used on the bank instruction file).
  relation @2 :Relation;
  birthDate @3 :UInt32;          # YYYYMMDD.
}

enum Role {
  unspecified @0; caseworker @1; townshipReviewer @2; countyApprover @3; financeOfficer @4;
  auditor @5; inspector @6; administrator @7;
  integration @8;                # A system that submits other actors' events through a server
                                 # (the bureau's existing MIS, an import): never an event's
                                 # actorId itself; registered with a jurisdiction, which bounds
                                 # the regions it submits for (Entry.submittedBy).
}

enum ExitReason {
  unspecified @0; incomeAboveLine @1; death @2; movedAway @3; failedVerification @4; voluntary @5;
}

enum StandardUnit {
  perPersonPerMonth @0;          # e.g. urban 低保 750 yuan = 75000 fen per person per month
  perPersonPerYear @1;           # e.g. rural 低保 4310 yuan = 431000 fen per person per year
}

enum Outcome { unspecified @0; pass @1; fail @2; }

# ---------------------------------------------------------------------------------------------
# Event kinds, in the order of the procedure. `caseId` names one application (one household,
# one programme) from application to exit; it is chosen by the writer and unique in the ledger.

struct HouseholdRegistered {
  members @0 :List(Member);
  address @1 :Text;              # Free text; the region is in the envelope.
}

struct MembersChanged {
  added @0 :List(Member);
  removed @1 :List(PersonId);
  reason @2 :Text;
}

struct ApplicationSubmitted {
  caseId @0 :Text;
  programme @1 :Programme;
  membersCovered @2 :List(PersonId);   # Who the application is for (empty: the whole household).
  declaredMonthlyIncomeFen @3 :Int64;  # Household income per month as declared, fen.
  relativeOfStaff @4 :Bool;            # Declared: a member is a close relative of staff or cadres.
  payeeCard @5 :BankCard;              # Optional: the card the allowance is to be paid to (一卡通).
  payeeName @6 :Text;                  # Name on that card's account, as recorded.
}

struct EconomicCheckRecorded {
  caseId @0 :Text;
  perCapitaMonthlyIncomeFen @1 :Int64; # Verified income per member per month, fen.
  assetsWithinLimit @2 :Bool;          # Property, vehicles, deposits within the local limits.
  secondActorId @3 :Text;              # Second official of the dual-post rule (双岗责任制).
}

struct HomeVisitRecorded {
  caseId @0 :Text;
  secondActorId @1 :Text;              # Home visits are made by two staff.
  countyLevel @2 :Bool;                # Made by county staff (required for relatives of staff).
  findings @3 :Text;
}

struct TownshipReview {
  caseId @0 :Text;
  outcome @1 :Outcome;
  note @2 :Text;
}

struct PublicNoticePosted {
  caseId @0 :Text;
  fromDate @1 :UInt32;                 # First day of the notice, YYYYMMDD.
  toDate @2 :UInt32;                   # Last day of the notice, YYYYMMDD (at least 7 days).
  place @3 :Text;
}

struct ObjectionRaised {
  caseId @0 :Text;
  objectionId @1 :Text;
  summary @2 :Text;
}

struct ObjectionResolved {
  caseId @0 :Text;
  objectionId @1 :Text;
  upheld @2 :Bool;                     # True: the objection was found justified.
  note @3 :Text;
}

struct Approval {
  caseId @0 :Text;
  programme @1 :Programme;
  monthlyAmountFen @2 :Int64;          # Entitlement per month for the household, fen.
  membersCovered @3 :UInt32;           # Number of people the amount covers.
  firstPeriod @4 :UInt32;              # First month paid, YYYYMM (the month after approval).
  reviewDueDate @5 :UInt32;            # Next review, YYYYMMDD.
}

struct Rejection {
  caseId @0 :Text;
  reason @1 :Text;                     # Written reason given to the applicant.
}

struct EntitlementAdjusted {
  caseId @0 :Text;
  monthlyAmountFen @1 :Int64;          # New entitlement per month, fen.
  membersCovered @2 :UInt32;
  fromPeriod @3 :UInt32;               # YYYYMM.
  reason @4 :Text;
}

struct StandardChanged {
  regionPrefix @0 :Text;               # Where the standard applies.
  programme @1 :Programme;
  amountFen @2 :Int64;                 # Fen per person, per month or per year (see unit).
  unit @3 :StandardUnit;
  effectiveDate @4 :UInt32;            # YYYYMMDD.
}

struct PaymentRollIssued {
  rollId @0 :Text;
  countyCode @1 :Text;                 # 6 digits.
  programme @2 :Programme;
  period @3 :UInt32;                   # YYYYMM.
  lineCount @4 :UInt32;                # Payments on the roll.
  controlSumFen @5 :Int64;             # Sum of the payments on the roll, fen.
}

struct PaymentIssued {
  paymentId @0 :Text;                  # End-to-end id carried to the bank and back.
  rollId @1 :Text;
  caseId @2 :Text;
  programme @3 :Programme;
  period @4 :UInt32;                   # YYYYMM.
  amountFen @5 :Int64;
  card @6 :BankCard;
  payeeName @7 :Text;                  # Name as recorded.
  supplementaryReason @8 :Text;        # Set only for a second payment in one period (补发).
}

struct PaymentSettled {
  paymentId @0 :Text;
  bankReference @1 :Text;
  settledDate @2 :UInt32;              # YYYYMMDD.
}

struct PaymentFailed {
  paymentId @0 :Text;
  reason @1 :Text;                     # e.g. name/ID mismatch, closed account.
  bankReference @2 :Text;
}

struct PaymentReturned {
  paymentId @0 :Text;
  amountFen @1 :Int64;
  reason @2 :Text;
  bankReference @3 :Text;
}

struct Suspension {
  caseId @0 :Text;
  fromPeriod @1 :UInt32;               # YYYYMM.
  reason @2 :Text;
}

struct Resumption {
  caseId @0 :Text;
  fromPeriod @1 :UInt32;               # YYYYMM.
  reason @2 :Text;
}

struct Exit {
  caseId @0 :Text;
  reason @1 :ExitReason;
  lastPeriod @2 :UInt32;               # Last month paid, YYYYMM.
  gradualExitMonths @3 :UInt8;         # 渐退: months still paid after the decision (0 = none).
  note @4 :Text;
}

struct RecoveryOrdered {
  recoveryId @0 :Text;
  paymentIds @1 :List(Text);           # The overpaid payments.
  amountFen @2 :Int64;                 # Amount to recover, fen.
  reason @3 :Text;
}

struct FundsAllocated {
  allocationId @0 :Text;
  regionPrefix @1 :Text;
  programme @2 :Programme;
  period @3 :UInt32;                   # YYYYMM the funds are for.
  amountFen @4 :Int64;
  source @5 :Text;                     # e.g. central, provincial, county budget.
}

struct RelativeDeclared {
  staffActorId @0 :Text;               # The member of staff.
  person @1 :PersonId;                 # Their close relative.
  relation @2 :Text;
}

struct ActorRegistered {
  newActorId @0 :Text;
  name @1 :Text;
  role @2 :Role;
  jurisdiction @3 :Text;               # Region prefix the actor may act in.
  publicKey @4 :Text;                  # Optional: the actor's Ed25519 public key as a verifier key
                                       # (ledger/note.h: "<actor id>+<key id>+<base64>", the .pub file
                                       # of `ledgerctl keygen`), named after the actor. An actor with a
                                       # key signs its approvals, rejections, payment rolls and
                                       # corrections (Event.actorSignature; docs/SIGNED_APPROVALS.md).
}

struct ActorKeySet {
  # Sets, replaces or removes a registered actor's public key: a key lost, rotated or no longer
  # used. Recorded by an administrator. The actor's later events are checked against the new key;
  # earlier ones stay checked against the key that was in force when they were appended.
  targetActorId @0 :Text;              # The actor whose key this is.
  publicKey @1 :Text;                  # As ActorRegistered.publicKey. Empty: from now on the actor
                                       # has no key and signs nothing.
  reason @2 :Text;                     # Why, e.g. "key lost", "yearly rotation".
}

struct ActorDeactivated {
  # Ends a registered actor's access from this entry on: its later events are refused (rule
  # actor.registered) and a server (ledgerd) serves it nothing, open connections included. Its
  # earlier events stand. Recorded by an administrator whose jurisdiction covers the actor's.
  # There is no reactivation: register the person again under a new id.
  targetActorId @0 :Text;              # The actor deactivated.
  reason @1 :Text;                     # Why, e.g. "retired", "moved to another bureau", "credential lost".
}

struct Correction {
  targetEventId @0 :Text;              # The earlier event corrected; it stays in the log.
  reason @1 :Text;
  secondActorId @2 :Text;              # Corrections need a second official.
  union {
    annul @3 :Void;                    # The target is void.
    amend @4 :Event;                   # The target is to be read as this event instead.
  }
}

struct ReviewRecorded {
  # A periodic review of an approved case (dynamic management, 动态管理).
  caseId @0 :Text;
  nextReviewDate @1 :UInt32;           # When the next review is due, YYYYMMDD.
  note @2 :Text;
}

enum ApprovalLevel {
  county @0;                           # County approvers approve (the default everywhere).
  township @1;                         # Delegated (下放审批权限): township reviewers may approve too.
}

struct ApprovalLevelSet {
  # Who may approve cases in a region from now on.
  regionPrefix @0 :Text;
  level @1 :ApprovalLevel;
}

# ---------------------------------------------------------------------------------------------
# The ledger's own entries. Written by the ledger itself (ledgerctl init, setkey, upgrade), never
# accepted from `append`, never corrected. Their envelope has no household and no region; the
# actor is "ledger", the business date the day they were written. Event ids: "ledger:genesis",
# and "ledger:checkpoint-key:<n>" for the n-th CheckpointKeySet (from 1).

enum LedgerPolicy {
  # What an event that breaks a domain rule does (ledger/rules.h Policy).
  enforce @0;                          # Refused, naming the rule.
  record @1;                           # Appended, with its findings stored in the entry.
}

struct LedgerGenesis {
  # The ledger's identity: the first entry of every ledger (seq 1, written by init), or, in a
  # ledger made before genesis entries existed, the entry `ledgerctl upgrade` appended at its
  # head (the entries before it then ran under a policy and secret the log does not record).
  # verify checks that the ledger runs under what this entry says; Ledger::Open refuses to
  # append otherwise. A policy or secret change therefore means a new ledger.
  policy @0 :LedgerPolicy;
  origin @1 :Text;                     # The checkpoints' origin (the checkpoint key's name);
                                       # empty: the ledger had no checkpoint key yet (see
                                       # CheckpointKeySet).
  checkpointKey @2 :Text;              # The checkpoint verifier key (ledger/note.h verifier key
                                       # text), empty with origin.
  secretCheck @3 :Data $Json.hex;      # HMAC-SHA256(the keyed-hash secret, "benefit-ledger secret
                                       # check v1"), 32 bytes: shows which secret the ledger's keyed
                                       # hashes are made with, without revealing it.
}

struct CheckpointKeySet {
  # The checkpoint key from this entry on: set for a ledger that had none (ledgerctl setkey).
  # The key recorded last in the log (here or in LedgerGenesis) is the one the ledger's meta
  # `checkpoint_key` must hold; earlier keys are historical.
  origin @0 :Text;                     # The key's name.
  checkpointKey @1 :Text;              # Verifier key text (ledger/note.h).
  reason @2 :Text;
}

# ---------------------------------------------------------------------------------------------
# The envelope

struct Event {
  eventId @0 :Text;                    # Client-chosen, unique in the ledger: the idempotency key.
  householdId @1 :Text;                # The household; empty for events not about one household.
  regionCode @2 :Text;                 # 12-digit region code of where the event happened.
  actorId @3 :Text;                    # The official who records it.
  businessDate @4 :UInt32;             # Effective date, YYYYMMDD.
  expectedVersion :union {
    # Optimistic concurrency: how many events the household must have before this one.
    any @5 :Void;                      # No check (the default).
    exactly @6 :UInt64;                # Exactly this many (0: the household must be new).
  }
  union {
    householdRegistered @7 :HouseholdRegistered;
    membersChanged @8 :MembersChanged;
    applicationSubmitted @9 :ApplicationSubmitted;
    economicCheckRecorded @10 :EconomicCheckRecorded;
    homeVisitRecorded @11 :HomeVisitRecorded;
    townshipReview @12 :TownshipReview;
    publicNoticePosted @13 :PublicNoticePosted;
    objectionRaised @14 :ObjectionRaised;
    objectionResolved @15 :ObjectionResolved;
    approval @16 :Approval;
    rejection @17 :Rejection;
    entitlementAdjusted @18 :EntitlementAdjusted;
    standardChanged @19 :StandardChanged;
    paymentRollIssued @20 :PaymentRollIssued;
    paymentIssued @21 :PaymentIssued;
    paymentSettled @22 :PaymentSettled;
    paymentFailed @23 :PaymentFailed;
    paymentReturned @24 :PaymentReturned;
    suspension @25 :Suspension;
    resumption @26 :Resumption;
    exit @27 :Exit;
    recoveryOrdered @28 :RecoveryOrdered;
    fundsAllocated @29 :FundsAllocated;
    relativeDeclared @30 :RelativeDeclared;
    actorRegistered @31 :ActorRegistered;
    correction @32 :Correction;
    reviewRecorded @33 :ReviewRecorded;
    approvalLevelSet @34 :ApprovalLevelSet;
    actorKeySet @35 :ActorKeySet;
    ledgerGenesis @37 :LedgerGenesis;  # The ledger's own entries (see above).
    checkpointKeySet @38 :CheckpointKeySet;
    actorDeactivated @39 :ActorDeactivated;
  }
  actorSignature @36 :Data $Json.hex;  # Ed25519 signature (64 bytes) by the actor's key over the
                                       # event with this field cleared (ledger/signing.h). Required on
                                       # approvals, rejections, payment rolls and corrections by an
                                       # actor with a public key; absent on every other event.
}

struct Finding {
  # A domain rule an accepted event breaks (under the `record` policy, or a flag; see ledger/rules.h).
  rule @0 :Text;                       # Rule id, e.g. "notice.period".
  message @1 :Text;
  eventIds @2 :List(Text);             # The events involved, this one first.
}

# ---------------------------------------------------------------------------------------------
# What the ledger stores. The layout of the database around it is ledger/STORAGE.md.

struct Entry {
  # One log entry. Stored as its canonical encoding (capnp::canonicalize); its hash is
  # SHA-256(0x00 ‖ canonical bytes), the RFC 6962 leaf hash.
  seq @0 :UInt64;                      # Position in the log, from 1, without gaps.
  recordedAtUs @1 :Int64;              # When the ledger appended it, microseconds since the Unix
                                       # epoch (UTC); never less than the previous entry's.
  prevHash @2 :Data $Json.hex;         # Hash of entry seq-1; 32 zero bytes for seq 1.
  householdPrevSeq @3 :UInt64;         # Seq of the household's previous entry; 0 if none (or no household).
  householdPrevHash @4 :Data $Json.hex;  # Its hash; 32 zero bytes if none.
  event @5 :Event;
  findings @6 :List(Finding);          # Rules the event breaks, recorded under the `record`
                                       # policy; under `enforce` only flags that do not refuse
                                       # (rules.h: exit.overpayment), the others being refused.
  submittedBy @7 :Text;                # The authenticated actor that submitted the event through a
                                       # server (ledgerd): the event's own actorId, or an integration
                                       # actor submitting for it. Null (absent) when the event was
                                       # appended on the ledger directory itself (ledgerctl append
                                       # --dir) and in every entry written before this field: a null
                                       # pointer at the end of the struct is dropped by
                                       # canonicalization, so those entries' bytes and hashes are
                                       # unchanged.
}

struct EntryView {
  # An entry as tools print it: the entry plus its hash (which is not stored inside it).
  hash @0 :Data $Json.hex;
  recordedAt @1 :Text;                 # recordedAtUs as ISO 8601 UTC, for people.
  kind @2 :Text;                       # The event kind's name, e.g. "approval".
  entry @3 :Entry;
}
