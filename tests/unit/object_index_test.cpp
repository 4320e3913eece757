// The object index: stable virtual handles, per-member presence, and the
// counts that tell a reader which members miss objects.
#include <catch2/catch.hpp>

#include "core/object_index.h"
#include "util/error.h"

using namespace p11c;

TEST_CASE("objects get distinct, never reused virtual handles") {
    ObjectIndex index;
    index.reset(3);
    Placement placed[] = {{0, 100}, {1, 200}, {2, 300}};
    CK_OBJECT_HANDLE a = index.add(true, CK_INVALID_HANDLE, placed, Presence::Absent);
    CK_OBJECT_HANDLE b = index.add(true, CK_INVALID_HANDLE, placed, Presence::Absent);
    CHECK(a != b);
    CHECK(a != CK_INVALID_HANDLE);
    index.remove(a);
    CK_OBJECT_HANDLE c = index.add(true, CK_INVALID_HANDLE, placed, Presence::Absent);
    CHECK(c != a);
    CHECK_THROWS_AS(index.presence(a, 0, nullptr), CkError);
}

TEST_CASE("a member handle maps back to its virtual handle") {
    ObjectIndex index;
    index.reset(2);
    CK_OBJECT_HANDLE found = index.adopt(1, 42, true);
    CHECK(index.adopt(1, 42, true) == found);
    CHECK(index.lookup(1, 42) == found);
    CHECK(index.lookup(0, 42) == 0);
    CK_OBJECT_HANDLE h = 0;
    CHECK(index.presence(found, 1, &h) == Presence::Present);
    CHECK(h == 42);
    CHECK(index.presence(found, 0, nullptr) == Presence::Unknown);
}

TEST_CASE("absent counts follow the objects a member misses") {
    ObjectIndex index;
    index.reset(3);
    Placement onlyFirst[] = {{0, 7}};
    CK_OBJECT_HANDLE object = index.add(true, CK_INVALID_HANDLE, onlyFirst, Presence::Absent);
    CHECK(index.absentOn(0) == 0);
    CHECK(index.absentOn(1) == 1);
    CHECK(index.absentOn(2) == 1);
    unsigned all[] = {0, 1, 2};
    CHECK(index.candidates(object, all) == std::vector<unsigned>{0});
    index.place(object, 1, Presence::Present, 9);
    CHECK(index.absentOn(1) == 0);
    CHECK(index.candidates(object, all) == std::vector<unsigned>{0, 1});
    index.remove(object);
    CHECK(index.absentOn(2) == 0);
}

TEST_CASE("session objects go with their session") {
    ObjectIndex index;
    index.reset(1);
    Placement p[] = {{0, 1}};
    CK_OBJECT_HANDLE mine = index.add(false, 5, p, Presence::Absent);
    Placement q[] = {{0, 2}};
    CK_OBJECT_HANDLE token = index.add(true, CK_INVALID_HANDLE, q, Presence::Absent);
    index.removeOwnedBy(5);
    CHECK_THROWS_AS(index.isToken(mine), CkError);
    CHECK(index.isToken(token));
}
