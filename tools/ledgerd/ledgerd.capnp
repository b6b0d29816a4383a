# ledgerd's interface: one ledger served over Cap'n Proto RPC on mutual TLS (README "Running a
# server"). The connection is the authentication: the server's bootstrap capability is a
# LedgerSession bound to the actor named by the client certificate's common name, checked
# against the ledger's registered actors. There is no anonymous session.
#
# Events go in as the binary Event of event.capnp (no JSON on the wire); reports come back as
# the result records of results.capnp, the same records `ledgerctl --dir` prints. Errors about
# the request are values (Failure), worded as the library words them; a request that breaks a
# limit (too many events, a message too large) fails the call, or closes the connection.
#
# Evolution: as event.capnp's rule, fields and methods are only added, with new ordinals.

@0xf7db22853fd6f0d7;

using Cxx = import "/capnp/c++.capnp";
using Event = import "/benefit_ledger/event.capnp";
using Results = import "/benefit_ledger/results.capnp";
$Cxx.namespace("ledgerd::rpc");

struct Failure {
  # A Status (benefit_ledger/status.h) that is not ok: code 0 (ok) means no failure.
  code @0 :UInt8;                  # ledger::Status::Code: 1 invalid argument, 2 not found,
                                   # 3 conflict, 4 corruption, 5 I/O error, 6 busy.
  field @1 :Text;                  # The input field or parameter concerned, if any.
  reason @2 :Text;
}

enum AppendStatus { created @0; exists @1; error @2; }

struct AppendOutcome {
  # One event's answer, as ledger::AppendResult and `ledgerctl append`'s result line.
  status @0 :AppendStatus;
  seq @1 :UInt64;                  # created, exists: where the event is.
  hash @2 :Data;                   # created: the entry hash (32 bytes).
  error @3 :Failure;               # error: why nothing was appended.
  findings @4 :List(Event.Finding);
  droppedWithGroup @5 :Bool;
}

struct Filter {
  regionPrefix @0 :Text;           # "" for the caller's whole jurisdiction.
  programme @1 :Event.Programme;   # unspecified: every programme.
}

enum TraceScope { actor @0; household @1; region @2; }

struct PayrollRequest {
  # As ledger::PayrollRequest: a county's roll for a programme and month.
  county @0 :Text;                 # 6 digits.
  programme @1 :Event.Programme;
  period @2 :UInt32;               # YYYYMM.
  actorId @3 :Text;                # Must be the caller.
  date @4 :UInt32;                 # YYYYMMDD: the business date of the roll's events.
}

interface VerifyProgress {
  # A client's callback: the server calls it while verify runs, at most a few times a second,
  # each call answered before the next is made (a slow client gets fewer, never a backlog).
  progress @0 (entriesChecked :UInt64, entriesTotal :UInt64) -> ();
}

interface LedgerSession {
  whoAmI @0 () -> (actorId :Text, role :Event.Role, jurisdiction :Text, headSeq :UInt64,
                    maxMessageBytes :UInt64, replica :Text);
  # maxMessageBytes: the server's --max-message-bytes, the most one call may carry (a bank file).
  # replica: "" for a ledger served alone; in a cluster (ledgerd --etcd) this node's part in it,
  # e.g. "follower (node n2) of ledger c1, led by node n1 127.0.0.1:7701, applied seq 90, 3
  # entries behind the cluster's head" (a follower serves reads as of its applied head).

  # Appends the events in order, each on its own (a rejected one does not stop the others), and
  # answers once they are durable (one synced write, merged with other callers' events). At most
  # the server's --max-events-per-call events; every actorId must be the caller's.
  append @1 (events :List(Event.Event)) -> (outcomes :List(AppendOutcome));

  show @2 (seq :UInt64) -> (failure :Failure, json :Text);
  replay @3 (household :Text, asOf :UInt32, entries :Bool)
      -> (failure :Failure, result :Results.ReplayResult, states :List(Text), entries :List(Text),
          stateOnDate :Text);
  # states[i]: step i's state for people (the table's "state after"); entries[i] its entry as
  # JSON, when asked for.
  roll @4 (filter :Filter, asOf :UInt32) -> (failure :Failure, result :Results.RollResult);
  reviews @5 (filter :Filter, asOf :UInt32, dueBy :UInt32) -> (failure :Failure, result :Results.RollResult);
  totals @6 (filter :Filter, fromPeriod :UInt32, toPeriod :UInt32)
      -> (failure :Failure, result :Results.TotalsResult);
  trace @7 (scope :TraceScope, asked :Text) -> (failure :Failure, result :Results.TraceResult);
  verify @8 (progress :VerifyProgress) -> (failure :Failure, result :Results.VerifyResult);
  # progress (optional) hears how far verify has got while it runs.
  # A region's payments after their case's exit (household ""), or one household's.
  recoveries @9 (filter :Filter, household :Text) -> (failure :Failure, result :Results.RecoveriesResult);

  # Payroll: a finance officer's own roll, for a county within its jurisdiction. A roll that must
  # be signed (the actor has a key) is signed by the client, whose key never leaves it: payrollRoll
  # gives the roll event as the ledger would append it now (null if nothing is to be issued), the
  # client signs it, and payroll is sent it back as signedRoll; the server issues that roll only if
  # it is still the one it would append (else a conflict: plan and sign again).
  payrollRoll @10 (request :PayrollRequest) -> (failure :Failure, roll :Event.Event);
  payroll @11 (request :PayrollRequest, dryRun :Bool, signedRoll :Event.Event)
      -> (failure :Failure, result :Results.PayrollResult, refusal :Text);
  # refusal: why the ledger refused the roll (result.outcome refused).
  exportRoll @12 (rollId :Text) -> (failure :Failure, csv :Text, payments :UInt64, sumFen :Int64, county :Text);

  # A bank's result file (its CSV text, within maxMessageBytes) matched against the ledger; with
  # apply, its results recorded by actorId (the caller, a finance officer) dated date. Every
  # payment the file names must be within the caller's jurisdiction. summary holds no lines.
  reconcile @13 (bankFile :Text, columns :Text, hasColumns :Bool, apply :Bool, actorId :Text, date :UInt32)
      -> (failure :Failure, lines :List(Results.ReconcileLine), summary :Results.ReconcileResult,
          applied :Results.ApplyOutcome, refused :List(Failure));

  # Evidence. Proofs come as the JSON of `ledgerctl prove` (benefit_ledger/evidence.h); a size of
  # 0 is none (the latest). checkpoint is for administrators and signs with ledgerd's
  # --checkpoint-key.
  checkpointKey @14 () -> (failure :Failure, key :Text);
  checkpoint @15 () -> (failure :Failure, note :Text, made :Bool);
  checkpoints @16 () -> (failure :Failure, result :Results.CheckpointList);
  proveInclusion @17 (seq :UInt64, size :UInt64) -> (failure :Failure, proof :Text);
  proveConsistency @18 (size1 :UInt64, size2 :UInt64) -> (failure :Failure, proof :Text);
  proveHousehold @19 (household :Text, size :UInt64) -> (failure :Failure, proof :Text);

  # The web console (ledgerd --console-listen, README "Web console"): a one-time sign-in URL for
  # the caller, https://HOST:PORT/login?token=T, valid expiresInSeconds and used once; opening it
  # in a browser signs that browser in as the caller (a session cookie), so the browser never
  # holds the caller's private key. A failure if ledgerd serves no console.
  consoleLogin @20 () -> (failure :Failure, url :Text, expiresInSeconds :UInt32);
}
