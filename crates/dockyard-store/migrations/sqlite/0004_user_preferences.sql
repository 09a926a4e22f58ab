-- Per-user preferences the IDE keeps on the server, so they follow the user to
-- every browser.
--
-- Editor settings, one row per setting: the value is JSON text (a string, a
-- number, a boolean or an object). A missing row means the default; a row the
-- current version does not understand is ignored when read, so an older binary
-- keeps working after a newer one stored more.
CREATE TABLE user_settings (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, key)
);

-- The IDE's layout of one project for one user (open tabs, splits, panel sizes):
-- an opaque JSON object, gone with the user or the project.
CREATE TABLE project_layouts (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    layout TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, project_id)
);
CREATE INDEX project_layouts_by_project ON project_layouts(project_id);
