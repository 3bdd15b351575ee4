//! Access control: which clients may query (being written).
