# fish completion for typecache(1). Install as
# /usr/share/fish/vendor_completions.d/typecache.fish. Follows src/cli (typecache COMMAND --help).

set -l commands run config dir clean stats verify prune merge compact remote help
complete -c typecache -f
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -l version -d 'Show version and libraries'
complete -c typecache -s h -l help -d 'Show help'

complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a run -d 'Run a checker on a private snapshot and publish what it changed'
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a config -d 'Show settings; get, set or unset one'
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a dir -d 'Print the cache directory in use and why'
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a clean -d 'Remove everything typecache and mypy keep in the cache'
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a stats -d 'Show what the cache holds'
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a verify -d 'Check integrity'
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a prune -d 'Evict module groups'
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a merge -d 'Combine caches into DEST'
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a compact -d 'Rewrite databases compactly'
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a remote -d 'Share the cache across machines: pull, push, status, gc'
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a help -d 'Show the help of a command'
complete -c typecache -n "__fish_seen_subcommand_from help" -a "$commands"

# Options several commands share (also accepted before the command: -v, --cache-dir).
set -l with_cache run config dir clean stats verify prune compact
complete -c typecache -l no-progress -d 'No progress line on stderr'
complete -c typecache -n "not __fish_seen_subcommand_from merge" -l cache-dir -r -a '(__fish_complete_directories)' -d 'Shared cache directory'
complete -c typecache -n "__fish_seen_subcommand_from run config clean stats verify prune compact merge remote" -l lock-timeout -x -d 'Publish lock timeout (30s, 2m)'
complete -c typecache -n "__fish_seen_subcommand_from config dir clean stats verify prune merge compact remote" -l json -d 'One JSON document'
complete -c typecache -n "not __fish_seen_subcommand_from stats verify prune merge compact" -s v -l verbose -d 'Say what typecache does'

# run
complete -c typecache -n "__fish_seen_subcommand_from run config" -l max-size -x -d 'Size budget (2G; 0 = unlimited)'
complete -c typecache -n "__fish_seen_subcommand_from run config" -l publish -x -a 'auto always never' -d 'When to publish'
complete -c typecache -n "__fish_seen_subcommand_from run config" -l remote -x -d 'Store shared across machines (redis://, https://, s3://)'
# run and remote: the remote store
complete -c typecache -n "__fish_seen_subcommand_from run remote" -l remote-read-only -d 'Pull, never push'
complete -c typecache -n "__fish_seen_subcommand_from run remote" -l remote-read -x -d 'Lineages pulled (main,feat-x)'
complete -c typecache -n "__fish_seen_subcommand_from run remote" -l remote-write -x -d 'Lineage pushed to (main)'
complete -c typecache -n "__fish_seen_subcommand_from run remote" -l remote-prefix -x -d 'Keys under this prefix'
complete -c typecache -n "__fish_seen_subcommand_from run remote" -l remote-budget -x -d 'Time talking to the store (2s; remote: 60s)'
# remote
complete -c typecache -n "__fish_seen_subcommand_from remote; and not __fish_seen_subcommand_from pull push status gc" -a 'pull push status gc'
complete -c typecache -n "__fish_seen_subcommand_from remote" -l python -x -d 'pull into an empty cache: this Python version (3.11)'
complete -c typecache -n "__fish_seen_subcommand_from gc" -l min-age -x -d 'Delete nothing younger (7d)'
complete -c typecache -n "__fish_seen_subcommand_from gc" -s n -l dry-run -d 'Count, delete nothing'
# config
complete -c typecache -n "__fish_seen_subcommand_from config; and not __fish_seen_subcommand_from get set unset" -a 'get set unset'
set -l keys lock_timeout publish max_size verbose disable remote remote_read_only remote_read remote_write remote_prefix remote_budget
complete -c typecache -n "__fish_seen_subcommand_from get" -a "cache_dir $keys"
complete -c typecache -n "__fish_seen_subcommand_from set unset" -a "$keys"
complete -c typecache -n "__fish_seen_subcommand_from set unset" -l user -d 'Edit the user configuration file'
# stats, verify, clean
complete -c typecache -n "__fish_seen_subcommand_from stats" -s z -l zero -d 'Reset the run counters'
complete -c typecache -n "__fish_seen_subcommand_from verify" -l repair -d 'Remove broken groups only'
complete -c typecache -n "__fish_seen_subcommand_from clean" -s n -l dry-run -d 'List what would go'
# prune
complete -c typecache -n "__fish_seen_subcommand_from prune" -l older-than -x -d 'Evict groups older than this (30d)'
complete -c typecache -n "__fish_seen_subcommand_from prune" -l max-size -x -d 'Evict until the cache fits (2G)'
complete -c typecache -n "__fish_seen_subcommand_from prune" -l keep-version -x -a current -d 'Evict other mypy versions'
complete -c typecache -n "__fish_seen_subcommand_from prune" -l missing-sources -r -a '(__fish_complete_directories)' -d 'Evict groups whose source is missing'
complete -c typecache -n "__fish_seen_subcommand_from prune" -l orphans -d 'Evict broken groups'
complete -c typecache -n "__fish_seen_subcommand_from prune" -l dead-tables -d 'Drop the unused files table'
complete -c typecache -n "__fish_seen_subcommand_from prune" -l dead-layouts -d 'Empty databases mypy no longer reads'
complete -c typecache -n "__fish_seen_subcommand_from prune" -s n -l dry-run -d 'Say what would go'
complete -c typecache -n "__fish_seen_subcommand_from prune" -s l -l list -d 'List every module group evicted'
# merge
complete -c typecache -n "__fish_seen_subcommand_from merge" -l into -r -F -d 'Destination cache'
complete -c typecache -n "__fish_seen_subcommand_from merge" -l prefer -x -a 'newest first last' -d 'Which copy wins'
complete -c typecache -n "__fish_seen_subcommand_from merge" -l allow-mixed -d 'Merge different mypy versions'
# Cache paths for the maintenance commands.
complete -c typecache -n "__fish_seen_subcommand_from stats verify prune merge compact clean" -F
