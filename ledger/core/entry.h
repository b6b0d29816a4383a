// Log entries: building the canonical bytes that are stored and hashed, and reading them back.
//
// An entry is the canonical Cap'n Proto encoding (capnp::canonicalize: one segment, no segment
// table, no padding or pointers out of preorder) of schema::Entry. Its hash is LeafHash(bytes)
// = SHA-256(0x00 ‖ bytes). Because the encoding is canonical, one entry has exactly one byte
// form, and a reader can tell (EntryReader::Init) when stored bytes are not that form.
#pragma once

#include <capnp/message.h>
#include <kj/exception.h>

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "benefit_ledger/event.capnp.h"
#include "benefit_ledger/status.h"
#include "ledger/core/state_machine.h"
#include "ledger/util/hash.h"

namespace ledger {

struct EntryLinks {
  uint64_t seq = 0;                 // This entry's position, from 1.
  int64_t recorded_at_us = 0;       // Microseconds since the Unix epoch.
  Hash prev_hash{};                 // Hash of entry seq-1 (zeros for seq 1).
  uint64_t household_prev_seq = 0;  // The household's previous entry, 0 if none.
  Hash household_prev_hash{};       // Its hash (zeros if none).
};

// Canonical bytes of the entry {links, event, findings, submitted_by}. An empty `submitted_by`
// leaves Entry.submittedBy null, so that the entry has the bytes it had before the field existed.
std::string EncodeEntry(const EntryLinks& links, schema::Event::Reader event, std::span<const Finding> findings = {},
                        std::string_view submitted_by = {});

// Canonical bytes of an event alone (for the event-id index digest: "same content").
std::string CanonicalEvent(schema::Event::Reader event);

// Reads stored entry bytes. Owns an aligned copy, so the bytes may come from anywhere.
class EntryReader {
 public:
  // Corruption unless `bytes` is exactly the canonical encoding of an Entry.
  Status Init(std::string_view bytes);
  schema::Entry::Reader entry() const { return entry_; }

 private:
  kj::Array<capnp::word> words_;
  kj::Own<capnp::MessageReader> message_;
  schema::Entry::Reader entry_;
};

// Runs `read`, which reads the fields of an entry after EntryReader::Init accepted it, and
// returns its Status. Init checks an entry's framing, not each field: a text whose NUL
// terminator was altered, say, makes Cap'n Proto throw a kj::Exception when it is read. This is
// where such an exception stops: it becomes Corruption ("the entry does not read: ..."), and the
// public functions that read stored entries (Log::Open, Rebuild, ReplayHousehold) return it
// instead of letting it reach their caller.
Status EntryDecodeError(const kj::Exception& e);
template <class Read>
Status CatchEntryDecodeErrors(Read&& read) {
  Status s;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] { s = read(); })) {
    return EntryDecodeError(*e);
  }
  return s;
}

// The kind's name as in JSON ("approval"), or "" when no kind is set.
std::string KindName(schema::Event::Reader event);

// The actor ids an entry is indexed under: the envelope's actorId and every other actor the
// event names in a field ending in "ActorId" (second official, staff member, new actor).
// Sorted, without duplicates.
std::vector<std::string> ActorIdsOf(schema::Event::Reader event);

}  // namespace ledger
