//! version-resolve: the release version and everything known about it.
