-- A profile's working mode: where its sessions run unless the start request says
-- otherwise ('worktree': a git worktree per session; 'workspace': the workspace itself).
ALTER TABLE agent_profiles ADD COLUMN isolation TEXT NOT NULL DEFAULT 'worktree';
