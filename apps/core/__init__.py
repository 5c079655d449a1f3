"""The shared platform: roles and permissions, authentication, audit, crypto and the base classes every app uses."""
