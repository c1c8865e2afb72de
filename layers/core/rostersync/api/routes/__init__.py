"""The release API's routers: syncs, holds and decisions by sync id; district resources."""
