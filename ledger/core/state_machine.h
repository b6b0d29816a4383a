// The interface through which a domain plugs into the log (the role of TigerBeetle's state
// machine, or of LevelDB's Comparator). The core sequences, chains, indexes and stores entries;
// it knows nothing of programmes, households' procedures or payment rules. For each event it
// asks its StateMachine two questions, and for a rebuild one:
//   Admit:  rewrite the event in place as it is to be stored (protecting personal numbers) and
//           check its structure, before idempotency is judged;
//   Decide: given the state as the group has left it (StateSource), for a correction the event
//           it corrects, and who submitted it (if a server did), what findings the event has,
//           which of them refuses it, and the state records it writes.
// The policy (Policy) is the core's: whether a refusing finding refuses the event (enforce) or is
// recorded in its entry (record). Fixed for a ledger's life; its genesis entry records it.
//
// The state lives in the core's state family (store.h kState) as opaque key -> value records
// that only the domain reads (ledger/domain/state.h encodes them).
#pragma once

#include <capnp/message.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "benefit_ledger/event.capnp.h"
#include "benefit_ledger/status.h"
#include "benefit_ledger/types.h"
#include "ledger/util/hash.h"

namespace ledger {

// Where committed state comes from (the database and the groups not yet written).
class StateSource {
 public:
  virtual ~StateSource() = default;
  // Reads record `key` into *value, *found false if there is none. A non-ok Status (the
  // database could not be read) says nothing about the record: it is never "absent", or the
  // domain would write over a record it did not see.
  virtual Status Get(const std::string& key, std::string* value, bool* found) = 0;
};

// What the domain decides about one event.
struct Decision {
  // Not ok: the event is refused under every policy (structure, signature, a state record that
  // could not be read: then an IOError, which stops a rebuild).
  Status refusal;
  std::vector<Finding> findings;
  std::optional<size_t> refusing;  // The first finding that refuses the event under enforce.
  // The state records the event writes, if it is appended (empty if `refusal` is not ok).
  std::map<std::string, std::string> writes;
};

// The size of a ledger's secret (the `secret` file the core keeps): the key of the keyed hashes
// Admit protects numbers with.
inline constexpr size_t kSecretBytes = 32;

class StateMachine {
 public:
  virtual ~StateMachine() = default;
  // On append only, before anything else; `secret` keys the hashes of protected numbers.
  virtual Status Admit(capnp::MessageBuilder* message, Bytes secret) const = 0;
  // On append (`replaying` false) and on rebuild (true: the entry was appended once, so what an
  // append alone checks, such as the actor's signature against the key in force, is skipped).
  // `corrected` is the event a correction names, else null. `submitted_by` is the entry's
  // submittedBy (event.capnp): who submitted the event through a server, "" if nobody did. Reads
  // the state through `state` only.
  virtual Decision Decide(schema::Event::Reader event, const schema::Event::Reader* corrected, StateSource* state,
                          bool replaying, std::string_view submitted_by) const = 0;
};

}  // namespace ledger
