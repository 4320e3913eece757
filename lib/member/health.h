// Member health: one state machine in one place.
//
//   Up ──fault──> Suspect ──more faults──> Down ──probe ok──> Syncing ──repaired──> Up
//
// A member serves operations only when Up (Syncing members receive repair
// writes but no caller work). Each transition is logged by its owner.
#pragma once

#include <cstdint>

namespace p11c {

enum class Health : uint8_t { Up, Suspect, Down, Syncing };

inline const char* healthName(Health h) {
    switch (h) {
        case Health::Up:
            return "up";
        case Health::Suspect:
            return "suspect";
        case Health::Down:
            return "down";
        case Health::Syncing:
            return "syncing";
    }
    return "?";
}

}  // namespace p11c
