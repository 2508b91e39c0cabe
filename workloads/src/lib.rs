//! Seeded generators of client operations and fault schedules.
