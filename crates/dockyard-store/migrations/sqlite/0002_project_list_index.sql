-- Listing an org's projects pages by id; this index serves that order directly.
CREATE INDEX projects_by_org ON projects(org_id, id);
