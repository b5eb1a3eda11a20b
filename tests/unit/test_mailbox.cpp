// The shard mailbox (shard/mailbox.hpp): many threads push, one pops.
#include "catch.hpp"

#include <thread>
#include <vector>

#include "shard/mailbox.hpp"

using sluice::mail_link;
using sluice::mailbox;

namespace {
struct item : mail_link {
  int sender = 0;
  int seq = 0;
};
}  // namespace

TEST_CASE("mailbox: one consumer takes every sender's mail once, in each sender's order") {
  constexpr int senders = 4;
  constexpr int per_sender = 20000;
  std::vector<std::vector<item>> items(senders);
  for (auto& v : items) v = std::vector<item>(per_sender);
  mailbox box;
  std::vector<std::thread> threads;
  for (int s = 0; s < senders; ++s)
    threads.emplace_back([&, s] {
      for (int i = 0; i < per_sender; ++i) {
        items[s][i].sender = s;
        items[s][i].seq = i;
        box.push(&items[s][i]);
      }
    });
  std::vector<int> next(senders, 0);
  int taken = 0;
  bool in_order = true;
  while (taken < senders * per_sender) {
    mail_link* l = box.pop();
    if (l == nullptr) {
      std::this_thread::yield();  // empty, or a push half done: its sender completes it
      continue;
    }
    auto* it = static_cast<item*>(l);
    in_order = in_order && it->seq == next[it->sender];
    next[it->sender] = it->seq + 1;
    ++taken;
  }
  for (auto& t : threads) t.join();
  CHECK(in_order);
  CHECK(box.pop() == nullptr);
  for (int s = 0; s < senders; ++s) CHECK(next[s] == per_sender);
}

TEST_CASE("mailbox: empty, then one, then empty again") {
  mailbox box;
  CHECK(box.pop() == nullptr);
  item a, b;
  box.push(&a);
  CHECK(box.pop() == &a);
  CHECK(box.pop() == nullptr);
  box.push(&a);
  box.push(&b);
  CHECK(box.pop() == &a);
  CHECK(box.pop() == &b);
  CHECK(box.pop() == nullptr);
}
