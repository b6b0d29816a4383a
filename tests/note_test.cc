// Ed25519, key texts, signed notes and checkpoints (ledger/note.h): known answers from RFC 8032
// and the Go note package, round trips, and notes broken on purpose.
#include "ledger/util/note.h"

#include <doctest/doctest.h>

#include <limits>
#include <string>
#include <vector>

using namespace ledger;
using namespace ledger::note;

namespace {

template <size_t N>
std::array<uint8_t, N> FromHex(std::string_view hex) {
  REQUIRE(hex.size() == 2 * N);
  std::array<uint8_t, N> out{};
  for (size_t i = 0; i < N; ++i)
    out[i] = static_cast<uint8_t>(std::stoi(std::string(hex.substr(2 * i, 2)), nullptr, 16));
  return out;
}

KeyPair NewKey(const std::string& name) {
  KeyPair key;
  Status s = GenerateKey(name, &key);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return key;
}

std::string Signed(std::string_view text, const KeyPair& key) {
  std::string note;
  Status s = SignNote(text, key, &note);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return note;
}

// The signature lines of a note signed once (its last line).
std::string LastLine(const std::string& note) {
  size_t start = note.rfind('\n', note.size() - 2);
  return note.substr(start + 1);
}

Status Open(std::string_view note, const KeyPair& key, std::string* text = nullptr) {
  std::string ignored;
  return OpenNote(note, VerifierOf(key), text != nullptr ? text : &ignored);
}

// The key id computed here, independently of note.cc.
uint32_t ExpectedKeyId(const std::string& name, const PublicKey& public_key) {
  std::string input = name + "\n" + std::string(1, '\x01') + std::string(public_key.begin(), public_key.end());
  Hash h = Sha256(AsBytes(input));
  return uint32_t{h[0]} << 24 | uint32_t{h[1]} << 16 | uint32_t{h[2]} << 8 | h[3];
}

constexpr std::string_view kCheckpointText =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";  // c2sp.org example

}  // namespace

TEST_CASE("Ed25519: RFC 8032 test vectors 1 and 2") {
  struct Vector {
    std::string_view seed, public_key, message, signature;
  };
  const Vector vectors[] = {
      {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
       "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
       "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe2"
       "4"
       "655141438e7a100b"},
      {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
       "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "\x72",
       "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302ae"
       "e"
       "b00d291612bb0c00"},
  };
  for (const Vector& v : vectors) {
    Seed seed = FromHex<32>(v.seed);
    PublicKey public_key;
    REQUIRE(PublicKeyFromSeed(seed, &public_key).ok());
    CHECK(Hex(public_key) == v.public_key);
    Signature signature;
    REQUIRE(Sign(seed, AsBytes(v.message), &signature).ok());
    CHECK(Hex(signature) == v.signature);
    CHECK(VerifySignature(public_key, AsBytes(v.message), signature));

    CHECK_FALSE(VerifySignature(public_key, AsBytes(std::string(v.message) + "x"), signature));
    Signature flipped = signature;
    flipped[63] ^= 0x01;
    CHECK_FALSE(VerifySignature(public_key, AsBytes(v.message), flipped));
    PublicKey other = public_key;
    other[0] ^= 0x01;
    CHECK_FALSE(VerifySignature(other, AsBytes(v.message), signature));
  }
}

TEST_CASE("base64: RFC 4648 vectors, round trips, only canonical text") {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (auto [bytes, text] : vectors) {
    CHECK(Base64(AsBytes(bytes)) == text);
    std::string out = "junk";
    CHECK(ParseBase64(text, &out));
    CHECK(out == bytes);
  }
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n <= all.size(); n += 7) {
    std::string out;
    CHECK(ParseBase64(Base64(AsBytes(all.substr(0, n))), &out));
    CHECK(out == all.substr(0, n));
  }
  for (std::string_view bad : {"Zg", "Zg=", "Zg===", "Zh==", "Zm9=", "Zm8=\n", "Zm 8=", "=Zm8",
                               "Zg==Zm8=", "====", "Zm8-", "Zm8_", "Z\xc3\xa9="}) {
    std::string out = "unchanged";
    CHECK_MESSAGE(!ParseBase64(bad, &out), bad);
    CHECK(out == "unchanged");
  }
}

TEST_CASE("key names follow the signed-note rules") {
  for (std::string_view good : {"PeterNeumann", "example.com/log42", "城东街道", "a"}) CHECK(IsValidKeyName(good));
  for (std::string_view bad : {"", "a b", "a+b", "a\tb", "a\nb", "a\x01z", "a\xc2\xa0z" /* U+00A0 */,
                               "a\xe3\x80\x80z" /* U+3000 */, "a\xe2\x80\xa8z" /* U+2028 */, "\xff"}) {
    CHECK_FALSE_MESSAGE(IsValidKeyName(bad), bad);
  }
  KeyPair key;
  CHECK(GenerateKey("", &key).field() == "key.name");
  CHECK(GenerateKey("has space", &key).code() == Status::Code::kInvalidArgument);
  CHECK(GenerateKey("a+b", &key).code() == Status::Code::kInvalidArgument);
}

TEST_CASE("generated keys round trip through their texts") {
  KeyPair key = NewKey("ledger.example/benefits");
  KeyPair other = NewKey("ledger.example/benefits");
  CHECK(key.seed != other.seed);
  PublicKey derived;
  REQUIRE(PublicKeyFromSeed(key.seed, &derived).ok());
  CHECK(derived == key.public_key);

  uint32_t key_id = ExpectedKeyId(key.name, key.public_key);
  CHECK(KeyId(key.name, key.public_key) == key_id);
  std::string id_hex =
      Hex(std::array<uint8_t, 4>{static_cast<uint8_t>(key_id >> 24), static_cast<uint8_t>(key_id >> 16),
                                 static_cast<uint8_t>(key_id >> 8), static_cast<uint8_t>(key_id)});

  std::string vkey = FormatVerifierKey(VerifierOf(key));
  std::string pub_b64 =
      Base64(AsBytes(std::string(1, '\x01') + std::string(key.public_key.begin(), key.public_key.end())));
  CHECK(vkey == key.name + "+" + id_hex + "+" + pub_b64);
  Verifier v;
  Status s = ParseVerifierKey(vkey, &v);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  CHECK(v.name == key.name);
  CHECK(v.public_key == key.public_key);

  std::string skey = FormatSignerKey(key);
  CHECK(skey.starts_with("PRIVATE+KEY+" + key.name + "+" + id_hex + "+"));
  KeyPair parsed;
  s = ParseSignerKey(skey, &parsed);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  CHECK(parsed.name == key.name);
  CHECK(parsed.seed == key.seed);
  CHECK(parsed.public_key == key.public_key);

  // The key id binds the name too: the same key under another name has another id.
  CHECK(KeyId("other.example/log", key.public_key) != key_id);
}

TEST_CASE("malformed key texts are rejected with the part at fault") {
  KeyPair key = NewKey("log.example");
  std::string id = FormatVerifierKey(VerifierOf(key)).substr(key.name.size() + 1, 8);
  std::string pub(key.public_key.begin(), key.public_key.end());
  auto verifier_error = [](const std::string& text) {
    Verifier v;
    Status s = ParseVerifierKey(text, &v);
    CHECK_FALSE(s.ok());
    return s.field();
  };
  CHECK(verifier_error("log.example") == "verifierKey.keyId");
  CHECK(verifier_error("+" + id + "+" + Base64(AsBytes("\x01" + pub))) == "verifierKey.name");
  CHECK(verifier_error("log example+" + id + "+" + Base64(AsBytes("\x01" + pub))) == "verifierKey.name");
  CHECK(verifier_error("log.example+" + id.substr(1) + "+" + Base64(AsBytes("\x01" + pub))) == "verifierKey.keyId");
  CHECK(verifier_error("log.example+-" + id.substr(1) + "+" + Base64(AsBytes("\x01" + pub))) == "verifierKey.keyId");
  CHECK(verifier_error("log.example+" + id + "+" + Base64(AsBytes("\x02" + pub))) == "verifierKey.key");
  CHECK(verifier_error("log.example+" + id + "+" + Base64(AsBytes("\x01" + pub.substr(1)))) == "verifierKey.key");
  CHECK(verifier_error("log.example+" + id + "+" + Base64(AsBytes("\x01" + pub)).substr(1)) == "verifierKey.key");
  CHECK(verifier_error("log.example+" + id + "+") == "verifierKey.key");
  std::string wrong_id = id;
  wrong_id[7] = wrong_id[7] == '0' ? '1' : '0';
  CHECK(verifier_error("log.example+" + wrong_id + "+" + Base64(AsBytes("\x01" + pub))) == "verifierKey.keyId");
  CHECK(verifier_error("other.example+" + id + "+" + Base64(AsBytes("\x01" + pub))) == "verifierKey.keyId");

  // Upper-case hex is accepted, as by the Go package.
  Verifier v;
  std::string upper = id;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(ParseVerifierKey("log.example+" + upper + "+" + Base64(AsBytes("\x01" + pub)), &v).ok());

  KeyPair parsed;
  std::string skey = FormatSignerKey(key);
  CHECK(ParseSignerKey(skey.substr(8), &parsed).field() == "signerKey");  // "KEY+log.example+..."
  CHECK(ParseSignerKey("private+key+" + skey.substr(12), &parsed).field() == "signerKey");
  CHECK(ParseSignerKey(FormatVerifierKey(VerifierOf(key)), &parsed).field() == "signerKey");
  KeyPair renamed = key;
  renamed.name = "other.example";
  std::string skey_other_id = "PRIVATE+KEY+log.example+" + FormatSignerKey(renamed).substr(12 + 14);
  CHECK(ParseSignerKey(skey_other_id, &parsed).field() == "signerKey.keyId");
  std::string seed(key.seed.begin(), key.seed.end());
  CHECK(ParseSignerKey("PRIVATE+KEY+log.example+" + id + "+" + Base64(AsBytes("\x02" + seed)), &parsed).field() ==
        "signerKey.key");
  CHECK(parsed.name.empty());  // untouched on error
}

TEST_CASE("known answer: the Go note package's PeterNeumann example") {
  // From golang.org/x/mod/sumdb/note (package doc and example_test.go).
  const std::string skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
  const std::string vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
  const std::string text =
      "If you think cryptography is the answer to your problem,\n"
      "then you don't know what your problem is.\n";
  const std::string peter_line =
      "\u2014 PeterNeumann "
      "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
  const std::string enoch_line =
      "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

  Verifier verifier;
  REQUIRE(ParseVerifierKey(vkey, &verifier).ok());
  CHECK(verifier.name == "PeterNeumann");
  CHECK(KeyId(verifier.name, verifier.public_key) == 0xc74f20a3);
  CHECK(ExpectedKeyId(verifier.name, verifier.public_key) == 0xc74f20a3);
  CHECK(FormatVerifierKey(verifier) == vkey);

  KeyPair signer;
  REQUIRE(ParseSignerKey(skey, &signer).ok());
  CHECK(signer.public_key == verifier.public_key);
  CHECK(FormatSignerKey(signer) == skey);

  // Ed25519 is deterministic: signing gives the Go package's bytes exactly.
  const std::string note = text + "\n" + peter_line;
  CHECK(Signed(text, signer) == note);
  std::string opened;
  Status s = OpenNote(note, verifier, &opened);
  CHECK_MESSAGE(s.ok(), s.ToString());
  CHECK(opened == text);

  // The doubly-signed form from the package doc: EnochRoot's line is by a key we do not know.
  opened.clear();
  CHECK(OpenNote(note + enoch_line, verifier, &opened).ok());
  CHECK(opened == text);
  CHECK(OpenNote(text + "\n" + enoch_line + peter_line, verifier, &opened).ok());
  CHECK(OpenNote(text + "\n" + enoch_line, verifier, &opened).code() == Status::Code::kNotFound);
}

TEST_CASE("a signed checkpoint opens and parses back") {
  KeyPair key = NewKey("ledger.example/benefits");
  Checkpoint checkpoint{"ledger.example/benefits", 12345, Sha256(AsBytes("root")), {}};
  std::string body;
  REQUIRE(FormatCheckpoint(checkpoint, &body).ok());
  CHECK(body == "ledger.example/benefits\n12345\n" + Base64(checkpoint.root_hash) + "\n");
  std::string note = Signed(body, key);
  CHECK(note.starts_with(body + "\n\u2014 ledger.example/benefits "));
  CHECK(note.ends_with("\n"));

  std::string text;
  Status s = Open(note, key, &text);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  CHECK(text == body);
  Checkpoint parsed;
  s = ParseCheckpoint(text, &parsed);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  CHECK(parsed.origin == checkpoint.origin);
  CHECK(parsed.tree_size == checkpoint.tree_size);
  CHECK(parsed.root_hash == checkpoint.root_hash);
  CHECK(parsed.extension_lines.empty());

  // Verification is against the key, not the text: a fresh Verifier parsed from text works too.
  Verifier v;
  REQUIRE(ParseVerifierKey(FormatVerifierKey(VerifierOf(key)), &v).ok());
  CHECK(OpenNote(note, v, &text).ok());
}

TEST_CASE("every single-byte change to a signed note is rejected") {
  KeyPair key = NewKey("ledger.example/benefits");
  std::string body;
  REQUIRE(FormatCheckpoint({"ledger.example/benefits", 7, Sha256(AsBytes("r")), {"ext one"}}, &body).ok());
  const std::string note = Signed(body, key);
  REQUIRE(Open(note, key).ok());
  for (size_t i = 0; i < note.size(); ++i) {
    for (uint8_t mask : {0x01, 0x20, 0x80}) {
      std::string bad = note;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      Status s = Open(bad, key);
      CHECK_MESSAGE(!s.ok(), "byte ", i, " ^ ", int{mask});
    }
  }
  // Dropping or doubling any byte is rejected too.
  for (size_t i = 0; i < note.size(); ++i) {
    CHECK_MESSAGE(!Open(note.substr(0, i) + note.substr(i + 1), key).ok(), "without byte ", i);
    CHECK_MESSAGE(!Open(note.substr(0, i) + note[i] + note.substr(i), key).ok(), "doubled byte ", i);
  }
}

TEST_CASE("wrong keys, missing lines and extra blank lines are rejected with a reason") {
  KeyPair key = NewKey("log.example");
  const std::string text(kCheckpointText);
  const std::string note = Signed(text, key);
  const std::string line = LastLine(note);

  // Wrong key: another key, the same key under another name, another key under the same name.
  KeyPair same_name = NewKey("log.example");
  KeyPair renamed = key;
  renamed.name = "other.example";
  for (const KeyPair& k : {NewKey("other.example"), same_name, renamed}) {
    Status s = Open(note, k);
    CHECK(s.code() == Status::Code::kNotFound);
    CHECK(s.reason().starts_with("no signature by key " + k.name + "+"));
  }

  // The signature of another text does not verify.
  std::string other_text = "log.example\n1\n" + Base64(Sha256(AsBytes("x"))) + "\n";
  Status s = Open(other_text + "\n" + line, key);
  CHECK(s.code() == Status::Code::kCorruption);
  CHECK(s.reason().find("does not verify") != std::string::npos);

  const std::pair<std::string, std::string_view> malformed[] = {
      {text, "no blank line"},                            // no signature block at all
      {text + "\n", "no signature lines"},                // blank line, no signature lines
      {note + "\n", "no signature lines"},                // blank line after the signatures
      {note.substr(0, note.size() - 1), "does not end"},  // last line without its newline
      {text + line, "no blank line"},                     // signature without the blank line
      {"", "no blank line"},
      {"\n\n", "no signature lines"},
      {text + "\n-- " + line.substr(4), "signature line 1"},     // ASCII dashes for the em dash
      {text + "\n\u2014" + line.substr(4), "signature line 1"},  // no space after the dash
      {text + "\n\u2014 log.example\n", "signature line 1"},     // no signature
      {text + "\n\u2014 log.example \n", "signature line 1"},
      {text + "\n\u2014 log.example AAAA\n", "signature line 1"},                   // key id only
      {text + "\n" + line.substr(0, line.size() - 1) + " \n", "signature line 1"},  // trailing space
      {text + "\n" + line.substr(0, line.size() - 1) + "\r\n", "control character"},
      {text + "\n" + line + "\u2014 a+b AAAAAAAA\n", "signature line 2"},  // bad name on another key's line
  };
  for (const auto& [bad, reason] : malformed) {
    s = Open(bad, key);
    CHECK_MESSAGE(!s.ok(), bad);
    if (s.code() == Status::Code::kInvalidArgument) {
      CHECK_MESSAGE(s.reason().find(reason) != std::string::npos, s.ToString(), " for ", bad);
    }
  }

  // Extra blank lines between the text and the signatures change the signed text.
  s = Open(text + "\n\n" + line, key);
  CHECK(s.code() == Status::Code::kCorruption);
  s = Open(text + "\n" + line + "\n" + line, key);  // a blank line inside the block ends the text there
  CHECK(s.code() == Status::Code::kCorruption);

  // Too many signature lines.
  std::string many = note;
  for (int i = 0; i < 100; ++i) many += "\u2014 other.example AAAAAAAA\n";
  s = Open(many, key);
  CHECK(s.code() == Status::Code::kInvalidArgument);
  CHECK(s.reason().find("more than 100") != std::string::npos);
}

TEST_CASE("signatures by other keys are ignored and the first by the key decides") {
  KeyPair log = NewKey("log.example");
  KeyPair witness = NewKey("witness.example");
  KeyPair stranger = NewKey("stranger.example");
  const std::string text(kCheckpointText);
  const std::string log_line = LastLine(Signed(text, log));
  const std::string witness_line = LastLine(Signed(text, witness));
  const std::string cosigned = text + "\n" + witness_line + log_line;

  std::string out;
  CHECK(Open(cosigned, log, &out).ok());
  CHECK(out == text);
  CHECK(Open(cosigned, witness, &out).ok());
  CHECK(Open(cosigned, stranger).code() == Status::Code::kNotFound);

  // A line with the key's name but another key id is another key: ignored.
  std::string same_name_other_id = "\u2014 log.example " + Base64(AsBytes(std::string(68, '\x07'))) + "\n";
  CHECK(Open(text + "\n" + same_name_other_id + log_line, log).ok());
  // A well-formed but meaningless line by an unknown key: ignored.
  CHECK(Open(text + "\n" + log_line + "\u2014 x.example " + Base64(AsBytes(std::string(5, 'z'))) + "\n", log).ok());

  // A repeated line by the key: the first decides.
  std::string forged = log_line;
  char& c = forged[forged.size() - 10];  // inside the signature, a whole 6-bit character
  c = c == 'A' ? 'B' : 'A';
  CHECK(Open(text + "\n" + log_line + forged, log).ok());
  Status s = Open(text + "\n" + forged + log_line, log);
  CHECK(s.code() == Status::Code::kCorruption);
  // A line by the key with a signature of the wrong length.
  std::string id_and_short = log_line.substr(log_line.find(' ', 4) + 1);
  std::string blob;
  REQUIRE(ParseBase64(id_and_short.substr(0, id_and_short.size() - 1), &blob));
  s = Open(text + "\n\u2014 log.example " + Base64(AsBytes(blob.substr(0, 36))) + "\n", log);
  CHECK(s.code() == Status::Code::kCorruption);
  CHECK(s.reason().find("has 32 bytes") != std::string::npos);
}

TEST_CASE("SignNote signs only well-formed texts with consistent keys") {
  KeyPair key = NewKey("log.example");
  std::string note;
  CHECK(SignNote("", key, &note).field() == "note");
  CHECK(SignNote("no newline", key, &note).field() == "note");
  CHECK(SignNote("tab\there\n", key, &note).field() == "note");
  CHECK(SignNote("bad \xff utf-8\n", key, &note).field() == "note");
  CHECK(note.empty());
  KeyPair mismatched = key;
  mismatched.public_key = NewKey("log.example").public_key;
  CHECK(SignNote("text\n", mismatched, &note).field() == "key");
  KeyPair bad_name = key;
  bad_name.name = "a b";
  CHECK(SignNote("text\n", bad_name, &note).field() == "key.name");

  // Texts with blank lines inside, or ending in one, still open to the same text.
  for (std::string_view text : {"a\n\nb\n", "a\n\n", "\n", "\u57ce\u4e1c\n"}) {
    std::string opened;
    Status s = Open(Signed(text, key), key, &opened);
    CHECK_MESSAGE(s.ok(), s.ToString());
    CHECK(opened == text);
  }
}

TEST_CASE("checkpoints: round trips and the c2sp.org example") {
  Checkpoint c;
  Status s = ParseCheckpoint(kCheckpointText, &c);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  CHECK(c.origin == "example.com/behind-the-sofa");
  CHECK(c.tree_size == 20852163);
  CHECK(Base64(c.root_hash) == "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=");
  std::string body;
  REQUIRE(FormatCheckpoint(c, &body).ok());
  CHECK(body == kCheckpointText);

  for (uint64_t size : {uint64_t{0}, uint64_t{1}, std::numeric_limits<uint64_t>::max()}) {
    Checkpoint in{"o", size, Sha256(AsBytes(std::to_string(size))), {"first extension", "second \u2014 one"}};
    REQUIRE(FormatCheckpoint(in, &body).ok());
    Checkpoint out;
    s = ParseCheckpoint(body, &out);
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    CHECK(out.origin == in.origin);
    CHECK(out.tree_size == size);
    CHECK(out.root_hash == in.root_hash);
    CHECK(out.extension_lines == in.extension_lines);
  }

  Hash root{};
  CHECK(FormatCheckpoint({"", 1, root, {}}, &body).field() == "checkpoint.origin");
  CHECK(FormatCheckpoint({"a\nb", 1, root, {}}, &body).field() == "checkpoint.origin");
  CHECK(FormatCheckpoint({"a\tb", 1, root, {}}, &body).field() == "checkpoint.origin");
  CHECK(FormatCheckpoint({"o", 1, root, {"ok", ""}}, &body).field() == "checkpoint.extensionLines[1]");
  CHECK(FormatCheckpoint({"o", 1, root, {"x\ny"}}, &body).field() == "checkpoint.extensionLines[0]");
}

TEST_CASE("malformed checkpoints are rejected with the line at fault") {
  const std::string root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
  const std::pair<std::string, std::string_view> bad[] = {
      {"", "checkpoint"},
      {"o\n5\n" + root, "checkpoint"},  // no final newline
      {"o\n5\n", "checkpoint"},         // two lines
      {"\n5\n" + root + "\n", "checkpoint.origin"},
      {"o\n\n" + root + "\n", "checkpoint.treeSize"},
      {"o\n05\n" + root + "\n", "checkpoint.treeSize"},
      {"o\n00\n" + root + "\n", "checkpoint.treeSize"},
      {"o\n+5\n" + root + "\n", "checkpoint.treeSize"},
      {"o\n-5\n" + root + "\n", "checkpoint.treeSize"},
      {"o\n 5\n" + root + "\n", "checkpoint.treeSize"},
      {"o\n5 \n" + root + "\n", "checkpoint.treeSize"},
      {"o\n0x5\n" + root + "\n", "checkpoint.treeSize"},
      {"o\n18446744073709551616\n" + root + "\n", "checkpoint.treeSize"},  // 2^64
      {"o\n5\n\n", "checkpoint.rootHash"},
      {"o\n5\n" + root.substr(0, 43) + "\n", "checkpoint.rootHash"},
      {"o\n5\n" + root.substr(0, 42) + "9=\n", "checkpoint.rootHash"},  // non-canonical last char
      {"o\n5\n" + Base64(AsBytes(std::string(31, 'a'))) + "\n", "checkpoint.rootHash"},
      {"o\n5\n" + Base64(AsBytes(std::string(33, 'a'))) + "\n", "checkpoint.rootHash"},
      {"o\n5\n" + root + "\n\n", "checkpoint.extensionLines[0]"},
      {"o\n5\n" + root + "\next\n\n", "checkpoint.extensionLines[1]"},
      {"o\n5\n" + root + "\r\n", "checkpoint"},  // control character
      {"o\xff\n5\n" + root + "\n", "checkpoint"},
  };
  for (const auto& [body, field] : bad) {
    Checkpoint c;
    c.origin = "untouched";
    Status s = ParseCheckpoint(body, &c);
    CHECK_MESSAGE(s.code() == Status::Code::kInvalidArgument, body);
    CHECK_MESSAGE(s.field() == field, s.ToString(), " for ", body);
    CHECK(c.origin == "untouched");
  }
  Checkpoint c;
  CHECK(ParseCheckpoint("o\n18446744073709551615\n" + root + "\n", &c).ok());
}
