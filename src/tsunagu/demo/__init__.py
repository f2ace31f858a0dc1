"""The demo world: real municipalities, fictitious residents, corporations and officials."""
