# fish completion for typecache(1). Install as
# /usr/share/fish/vendor_completions.d/typecache.fish. Follows src/cli.cc; "clean", "dir",
# "config get|set|unset" and "remote pull|push|status|gc" are planned and completed already.

set -l commands run config stats verify prune merge compact clean dir remote
complete -c typecache -f
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -l version -d 'Show version'
complete -c typecache -s h -l help -d 'Show help'

complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a run -d 'Run a checker on a private snapshot and publish what it changed'
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a config -d 'Show or change settings'
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a stats -d 'Show what the cache holds'
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a verify -d 'Check integrity'
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a prune -d 'Evict module groups'
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a merge -d 'Combine caches into DEST'
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a compact -d 'Rewrite databases compactly'
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a clean -d 'Remove the shared cache (planned)'
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a dir -d 'Print the shared cache directory (planned)'
complete -c typecache -n "not __fish_seen_subcommand_from $commands" -a remote -d 'Remote store (planned)'

# Options most subcommands share.
set -l with_cache run config stats verify prune compact clean dir remote
complete -c typecache -n "__fish_seen_subcommand_from $with_cache" -l cache-dir -r -a '(__fish_complete_directories)' -d 'Shared cache directory'
complete -c typecache -n "__fish_seen_subcommand_from $with_cache merge" -l lock-timeout -x -d 'Publish lock timeout (30s, 2m)'
complete -c typecache -n "__fish_seen_subcommand_from config stats verify prune merge compact" -l json -d 'Machine-readable output'

# run
complete -c typecache -n "__fish_seen_subcommand_from run" -l max-size -x -d 'Size budget (2G; 0 = unlimited)'
complete -c typecache -n "__fish_seen_subcommand_from run" -l publish -x -a 'auto always never' -d 'When to publish'
complete -c typecache -n "__fish_seen_subcommand_from run" -s v -l verbose -d 'Report snapshot and publish figures'
# config
complete -c typecache -n "__fish_seen_subcommand_from config; and not __fish_seen_subcommand_from get set unset" -a 'get set unset'
complete -c typecache -n "__fish_seen_subcommand_from get set unset" -a 'lock_timeout publish max_size verbose'
complete -c typecache -n "__fish_seen_subcommand_from config" -l max-size -x -d 'Size budget'
# stats, verify
complete -c typecache -n "__fish_seen_subcommand_from stats" -s z -l zero -d 'Reset the run counters'
complete -c typecache -n "__fish_seen_subcommand_from verify" -l repair -d 'Remove broken groups only'
# prune
complete -c typecache -n "__fish_seen_subcommand_from prune" -l older-than -x -d 'Evict groups older than this (30d)'
complete -c typecache -n "__fish_seen_subcommand_from prune" -l max-size -x -d 'Evict until the cache fits (2G)'
complete -c typecache -n "__fish_seen_subcommand_from prune" -l keep-version -x -a current -d 'Evict other mypy versions'
complete -c typecache -n "__fish_seen_subcommand_from prune" -l missing-sources -r -a '(__fish_complete_directories)' -d 'Evict groups whose source is missing'
complete -c typecache -n "__fish_seen_subcommand_from prune" -l orphans -d 'Evict broken groups'
complete -c typecache -n "__fish_seen_subcommand_from prune" -l dead-tables -d 'Drop the unused files table'
complete -c typecache -n "__fish_seen_subcommand_from prune" -s n -l dry-run -d 'List what would go'
# merge
complete -c typecache -n "__fish_seen_subcommand_from merge" -l into -r -F -d 'Destination cache'
complete -c typecache -n "__fish_seen_subcommand_from merge" -l prefer -x -a 'newest first last' -d 'Which copy wins'
complete -c typecache -n "__fish_seen_subcommand_from merge" -l allow-mixed -d 'Merge different mypy versions'
# remote
complete -c typecache -n "__fish_seen_subcommand_from remote; and not __fish_seen_subcommand_from pull push status gc" -a 'pull push status gc'
# Cache paths for the maintenance commands.
complete -c typecache -n "__fish_seen_subcommand_from stats verify prune merge compact" -F
