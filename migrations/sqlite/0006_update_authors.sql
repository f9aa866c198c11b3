-- Who sent each logged update (docs/change-feed.md): the name the room knew its sender
-- by (the access token's name, else the name shown in presence). Written by the same
-- insert as the update; NULL when unknown and for rows logged before this migration.
ALTER TABLE updates ADD COLUMN author TEXT;
