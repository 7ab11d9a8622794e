// channel_peer: the "other process" of channel_multiprocess_test. Each role is a real program so
// server and client never share an address space, file descriptions or a PID.
//
//   channel_peer server NAME WAIT [LANES] [MAX_MESSAGE]   create NAME and serve (echo server)
//   channel_peer worker NAME INDEX WAIT [CONTROL_FD]       attach and serve as worker INDEX
//   channel_peer client NAME THREADS CALLS                 claim THREADS lanes, print "claimed",
//                                                          wait for a line on stdin, make CALLS
//                                                          verified echo calls per thread
//   channel_peer hold NAME MS                              claim a lane, print "lane N", call
//                                                          sleep(MS) and wait (to be SIGKILLed)
//   channel_peer hostile-client NAME SEED                  one good call, then scribble on its lane
//                                                          and the header; print "scribbled lane
//                                                          INDEX"; pause
//   channel_peer hostile-server NAME SEED                  create NAME; answer every request by
//                                                          writing garbage into the response ring
//
// Echo server requests (tool name, JsonArgs text): "echo" -> Response.json = args; "sleep" ->
// sleep args milliseconds, then as echo; "crash" -> SIGKILL itself mid-call; "die-after-reply" ->
// echo, then SIGKILL itself before looking for the next request. A write_file request
// is answered with one Content block whose text is the file content. Ping -> empty Ok response.
// Exit status: 0 success, 1 a check failed (reason on stderr), 2 usage/setup error.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "channel/channel.hpp"

using namespace shmcp;
using namespace shmcp::channel;

namespace {

std::atomic<bool> g_stop{false};
void on_term(int) { g_stop.store(true); }

[[noreturn]] void die(const std::string& why, int code = 2) {
  std::fprintf(stderr, "channel_peer: %s\n", why.c_str());
  std::_Exit(code);
}

WaitPolicy policy_from(const std::string& s) {
  auto m = parse_wait_mode(s);
  if (!m) die(m.error().describe());
  return WaitPolicy{*m, 50'000};
}

void say(const std::string& line) {
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

// Builds the echo server's answer to one verified request.
// Set by answer() for "die-after-reply": the server SIGKILLs itself once the reply is sent.
bool g_die_after_reply = false;

void answer(flatbuffers::FlatBufferBuilder& fbb, const wire::Request* req) {
  fbb.Clear();
  const std::uint64_t id = req->id();
  if (req->kind() == wire::CallKind::Ping) {
    build_status_response(fbb, id, wire::Status::Ok, "");
    return;
  }
  if (auto* w = req->args_as_WriteFileArgs()) {
    auto t = fbb.CreateString(w->content()->data(), w->content()->size());
    std::vector<flatbuffers::Offset<wire::Content>> blocks{wire::CreateContent(fbb, wire::ContentKind::Text, t)};
    auto v = fbb.CreateVector(blocks);
    fbb.Finish(wire::CreateResponse(fbb, id, wire::Status::Ok, 0, false, false, v), kResponseIdentifier);
    return;
  }
  const std::string tool = req->tool() ? req->tool()->str() : "";
  const auto* j = req->args_as_JsonArgs();
  const std::string args = j ? j->json()->str() : "";
  if (tool == "crash") raise(SIGKILL);
  if (tool == "sleep") usleep(static_cast<useconds_t>(std::stoul(args.empty() ? "0" : args) * 1000));
  if (tool == "die-after-reply") g_die_after_reply = true;
  if (tool != "echo" && tool != "sleep" && tool != "die-after-reply") {
    build_status_response(fbb, id, wire::Status::UnknownTool, "unknown tool '" + tool + "'");
    return;
  }
  auto js = fbb.CreateString(args);
  fbb.Finish(wire::CreateResponse(fbb, id, wire::Status::Ok, 0, false, false, 0, js), kResponseIdentifier);
}

int serve(const std::shared_ptr<Segment>& seg, std::uint32_t worker, const WaitPolicy& policy) {
  ServerEndpoint ep(seg, worker);
  flatbuffers::FlatBufferBuilder fbb(1024);
  while (!g_stop.load()) {
    auto in = ep.next(policy, &g_stop);
    if (!in) {
      if (in.error().code == Errc::closed) break;
      // corrupt lanes are counted by the endpoint (stats().corrupt_messages); keep serving.
      std::fprintf(stderr, "channel_peer: next: %s\n", in.error().describe().c_str());
      continue;
    }
    auto req = verify_request(in->bytes);
    if (!req) {
      build_status_response(fbb, in->id, wire::Status::InvalidRequest, req.error().describe());
    } else {
      answer(fbb, *req);
    }
    auto s = ep.reply(in->lane, in->id, bytes_of(fbb), monotonic_ns() + 5'000'000'000ull, policy);
    if (!s) std::fprintf(stderr, "channel_peer: reply: %s\n", s.error().describe().c_str());
    if (g_die_after_reply) raise(SIGKILL);
  }
  return 0;
}

ChannelConfig server_config(int argc, char** argv, const WaitPolicy& policy) {
  ChannelConfig cfg;
  cfg.wait_mode = policy.mode;
  if (argc > 4) cfg.lanes = static_cast<std::uint32_t>(std::stoul(argv[4]));
  if (argc > 5) cfg.max_message = static_cast<std::uint32_t>(std::stoul(argv[5]));
  return cfg;
}

// A verified echo call; returns an empty string on success, else what went wrong.
std::string echo_call(ClientLane& lane, const std::string& payload, const WaitPolicy& policy) {
  flatbuffers::FlatBufferBuilder fbb(256);
  const std::uint64_t id = lane.next_id();
  build_json_request(fbb, id, 0, "echo", payload);
  auto r = lane.call(id, bytes_of(fbb), monotonic_ns() + 20'000'000'000ull, policy);
  if (!r) return r.error().describe();
  std::vector<std::byte> copy(r->begin(), r->end());
  auto resp = verify_response(copy);
  if (!resp) return resp.error().describe();
  if ((*resp)->id() != id) return "response id " + std::to_string((*resp)->id()) + " != request id " + std::to_string(id);
  if (!(*resp)->json() || (*resp)->json()->str() != payload) return "response payload differs for id " + std::to_string(id);
  return {};
}

int run_client(const std::string& name, int threads, int calls) {
  auto seg = Segment::attach(name, 5'000'000'000ull);
  if (!seg) die(seg.error().describe());
  std::vector<ClientLane> lanes;
  for (int t = 0; t < threads; ++t) {
    auto l = ClientLane::claim(*seg);
    if (!l) die("claim: " + l.error().describe(), 1);
    lanes.push_back(std::move(*l));
  }
  say("claimed");
  std::string go;
  std::getline(std::cin, go);  // all clients hold their lanes at once before anyone calls
  std::atomic<int> failures{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      const WaitPolicy policy{WaitMode::adaptive, 20'000};
      for (int i = 0; i < calls; ++i) {
        // Distinct per process/thread/call and of varying length, so a crossed response shows.
        // Appended, not `"p" + std::to_string(...)`: a false -Wrestrict at -O3 (GCC bug 105329).
        std::string payload = "p";
        payload += std::to_string(getpid()) + "-t" + std::to_string(t) + "-c" + std::to_string(i) + "-";
        payload.append(static_cast<std::size_t>((i * 7919) % 3000), static_cast<char>('a' + (i + t) % 26));
        if (auto err = echo_call(lanes[static_cast<std::size_t>(t)], payload, policy); !err.empty()) {
          std::fprintf(stderr, "channel_peer client t%d call %d: %s\n", t, i, err.c_str());
          failures.fetch_add(1);
          return;
        }
      }
    });
  for (auto& t : ts) t.join();
  return failures.load() == 0 ? 0 : 1;
}

int run_hold(const std::string& name, unsigned ms) {
  auto seg = Segment::attach(name, 5'000'000'000ull);
  if (!seg) die(seg.error().describe());
  auto lane = ClientLane::claim(*seg);
  if (!lane) die(lane.error().describe());
  flatbuffers::FlatBufferBuilder fbb;
  const std::uint64_t id = lane->next_id();
  build_json_request(fbb, id, 0, "sleep", std::to_string(ms));
  if (auto s = lane->send(id, bytes_of(fbb), monotonic_ns() + 5'000'000'000ull, WaitPolicy{}); !s) die(s.error().describe());
  say("lane " + std::to_string(lane->index()));
  auto r = lane->receive(monotonic_ns() + 60'000'000'000ull, WaitPolicy{});
  for (;;) pause();  // we are meant to be SIGKILLed while holding the lane
}

void fill_random(std::mt19937_64& rng, std::byte* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::byte>(rng());
}

int run_hostile_client(const std::string& name, std::uint64_t seed) {
  auto seg = Segment::attach(name, 5'000'000'000ull);
  if (!seg) die(seg.error().describe());
  Segment& s = **seg;
  auto lane = ClientLane::claim(*seg);
  if (!lane) die(lane.error().describe());
  // Behave once, so the server has seen this lane (and the high-water mark) before the attack.
  if (auto err = echo_call(*lane, "hello", WaitPolicy{}); !err.empty()) die("first call: " + err, 1);
  std::mt19937_64 rng(seed);
  const std::uint32_t i = lane->index();
  LaneControl& lc = s.lane(i);
  // Both rings' slots: random bytes everywhere, then an impossible seq where the server reads next.
  std::byte* slots = reinterpret_cast<std::byte*>(&lc) + sizeof(LaneControl);
  fill_random(rng, slots, 2ull * s.slots_per_ring() * s.slot_size());
  const std::uint64_t head = lc.request.head.load();
  auto* next = reinterpret_cast<SlotHeader*>(slots + (head % s.slots_per_ring()) * s.slot_size());
  next->seq.store((rng() | (1ull << 63)) ^ 1);
  lc.request.tail.store(rng());
  // Header fields beyond the geometry every peer copied at attach, and the words workers trust.
  SegmentHeader& h = s.header();
  h.magic = rng();
  h.lane_count = static_cast<std::uint32_t>(rng());
  h.slot_size = static_cast<std::uint32_t>(rng());
  h.slots_per_ring = static_cast<std::uint32_t>(rng());
  h.max_message = static_cast<std::uint32_t>(rng());
  h.lanes_offset = rng();
  h.lane_stride = rng();
  h.total_size = rng();
  h.lanes_high_water.store(0);  // try to hide every lane from the workers
  h.sleepers.store(static_cast<std::uint32_t>(rng()));
  h.doorbell.fetch_add(1);
  futex_wake(&h.doorbell, 1 << 20);
  say("scribbled lane " + std::to_string(i));
  for (;;) pause();
}

int run_hostile_server(const std::string& name, std::uint64_t seed) {
  ChannelConfig cfg;
  cfg.lanes = 64;
  auto seg = Segment::create(name, cfg);
  if (!seg) die(seg.error().describe());
  Segment& s = **seg;
  ServerEndpoint ep(*seg, 0);
  const WaitPolicy policy{};
  // `round` counts answered requests only: counting failed next() calls too would make which
  // kinds of garbage a client ever sees depend on timing (under TSan, every call could get kind 0/1).
  for (std::uint64_t next_round = 0; !g_stop.load();) {
    auto in = ep.next(policy, &g_stop);
    if (!in) {
      if (in.error().code == Errc::closed) break;
      continue;
    }
    const std::uint64_t round = next_round++;
    std::mt19937_64 rng(seed * 1000 + round);
    LaneControl& lc = s.lane(in->lane);
    std::byte* slots = reinterpret_cast<std::byte*>(&lc) + sizeof(LaneControl) +
                       static_cast<std::uint64_t>(s.slots_per_ring()) * s.slot_size();
    const std::uint64_t pos = lc.response.tail.load();
    auto* h = reinterpret_cast<SlotHeader*>(slots + (pos % s.slots_per_ring()) * s.slot_size());
    // Random bytes everywhere except the seq word of the slot the client polls: random bytes there,
    // even for an instant, would be a fourth kind of garbage the client may or may not catch
    // mid-fill (under TSan it caught it every round), making the mix below timing-dependent.
    const auto total = static_cast<std::size_t>(s.slots_per_ring()) * s.slot_size();
    const auto seq_at = static_cast<std::size_t>(reinterpret_cast<std::byte*>(h) - slots);
    fill_random(rng, slots, seq_at);
    fill_random(rng, slots + seq_at + sizeof(h->seq), total - seq_at - sizeof(h->seq));
    const std::uint32_t per = s.slot_size() - static_cast<std::uint32_t>(sizeof(SlotHeader));
    switch (round % 3) {
      case 0:  // impossible sequence number
        h->seq.store((rng() | (1ull << 62)) + 7);
        break;
      case 1:  // published, but the fragment header is random
        h->seq.store(pos + 1);
        break;
      default: {  // a well-formed fragment whose payload is random bytes
        const auto len = static_cast<std::uint32_t>(rng() % per);
        h->msg_id = in->id;
        h->total_len = len;
        h->offset = 0;
        h->frag_len = len;
        h->seq.store(pos + 1);
      }
    }
    lc.response.tail.store(pos + 1);
    lc.response.data_futex.fetch_add(1);
    futex_wake(&lc.response.data_futex, 1);
    ep.release_current();
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  if (argc < 3) die("usage: channel_peer server|worker|client|hold|hostile-client|hostile-server NAME ...");
  const std::string role = argv[1], name = argv[2];
  auto arg = [&](int i) -> std::string {
    if (i >= argc) die("missing argument " + std::to_string(i) + " for " + role);
    return argv[i];
  };
  if (role == "server") {
    const WaitPolicy policy = policy_from(arg(3));
    auto seg = Segment::create(name, server_config(argc, argv, policy));
    if (!seg) die(seg.error().describe());
    say("ready");
    return serve(*seg, 0, policy);
  }
  if (role == "worker") {
    auto seg = Segment::attach(name, 5'000'000'000ull);
    if (!seg) die(seg.error().describe());
    if (argc > 5) {  // the supervisor's control region, inherited as this fd
      auto control = ControlRegion::adopt(std::stoi(arg(5)));
      if (!control) die(control.error().describe());
      (*seg)->adopt_control(*control);
    }
    return serve(*seg, static_cast<std::uint32_t>(std::stoul(arg(3))), policy_from(arg(4)));
  }
  if (role == "client") return run_client(name, std::stoi(arg(3)), std::stoi(arg(4)));
  if (role == "hold") return run_hold(name, static_cast<unsigned>(std::stoul(arg(3))));
  if (role == "hostile-client") return run_hostile_client(name, std::stoull(arg(3)));
  if (role == "hostile-server") return run_hostile_server(name, std::stoull(arg(3)));
  die("unknown role " + role);
}
