# bash completion for typecache(1). Install as
#   /usr/share/bash-completion/completions/typecache  (or source it from ~/.bashrc).
# Subcommands and options follow src/cli (typecache COMMAND --help).

_typecache() {
  local cur prev words cword
  if declare -F _init_completion >/dev/null 2>&1; then
    _init_completion -n = || return
  else
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
  fi

  local commands="run config dir clean stats verify prune merge compact remote help"
  local cmd="" i
  for ((i = 1; i < cword; i++)); do
    case "${words[i]}" in
      --) # Everything after "run|config|dir ... --" is the checker's command line.
        if [[ $cmd == run || $cmd == config || $cmd == dir ]]; then
          if ((i + 1 == cword)); then
            COMPREPLY=($(compgen -c -- "$cur"))
          else
            COMPREPLY=($(compgen -f -- "$cur"))
          fi
          return
        fi ;;
      --cache-dir|--into|--missing-sources|--publish|--prefer|--keep-version|--lock-timeout|\
      --max-size|--older-than|--remote|--remote-read|--remote-write|--remote-prefix|\
      --remote-budget|--python|--min-age) ((i++)) ;;  # and their value
      -*) ;;
      *) if [[ -z $cmd ]]; then cmd="${words[i]}"; fi ;;
    esac
  done

  # Values of options.
  case "$prev" in
    --cache-dir|--into|--missing-sources)
      COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --publish)
      COMPREPLY=($(compgen -W "auto always never" -- "$cur")); return ;;
    --prefer)
      COMPREPLY=($(compgen -W "newest first last" -- "$cur")); return ;;
    --keep-version)
      COMPREPLY=($(compgen -W "current" -- "$cur")); return ;;
    --lock-timeout|--max-size|--older-than|--remote|--remote-read|--remote-write|\
    --remote-prefix|--remote-budget|--python|--min-age)
      return ;;
  esac

  local common="--cache-dir --lock-timeout --no-progress -h --help"
  local keys="lock_timeout publish max_size verbose disable remote remote_read_only remote_read
              remote_write remote_prefix remote_budget"
  local opts=""
  case "$cmd" in
    "")
      COMPREPLY=($(compgen -W "$commands --version -h --help -v --verbose --cache-dir --no-progress" -- "$cur"))
      return ;;
    help) COMPREPLY=($(compgen -W "$commands" -- "$cur")); return ;;
    run)
      opts="$common --max-size --publish --remote --remote-read-only --remote-read --remote-write
            --remote-prefix --remote-budget -v --verbose --" ;;
    config)
      local sub=""
      for ((i = 2; i < cword; i++)); do
        case "${words[i]}" in get|set|unset) sub="${words[i]}" ;; esac
      done
      if [[ -z $sub && $cur != -* ]]; then
        COMPREPLY=($(compgen -W "get set unset" -- "$cur")); return
      fi
      if [[ -n $sub && $cur != -* ]]; then
        if [[ $sub == get ]]; then
          COMPREPLY=($(compgen -W "cache_dir $keys" -- "$cur"))
        elif [[ $prev == get || $prev == set || $prev == unset || $prev == --user ]]; then
          COMPREPLY=($(compgen -W "$keys" -- "$cur"))
        fi
        return
      fi
      opts="$common --max-size --publish --remote --json -v --verbose --user --" ;;
    stats) opts="$common --json -z --zero" ;;
    verify) opts="$common --json --repair" ;;
    prune)
      opts="$common --json --older-than --max-size --keep-version --missing-sources --orphans
            --dead-tables --dead-layouts -n --dry-run -l --list" ;;
    merge) opts="--into --prefer --allow-mixed --json --lock-timeout -h --help" ;;
    compact) opts="$common --json" ;;
    clean) opts="$common --json -n --dry-run -v --verbose" ;;
    dir) opts="--cache-dir --json -v --verbose -h --help --" ;;
    remote)
      local sub=""
      for ((i = 2; i < cword; i++)); do
        case "${words[i]}" in pull|push|status|gc) sub="${words[i]}" ;; esac
      done
      if [[ -z $sub && $cur != -* ]]; then
        COMPREPLY=($(compgen -W "pull push status gc" -- "$cur")); return
      fi
      opts="$common --remote-read-only --remote-read --remote-write --remote-prefix
            --remote-budget --python --json -v --verbose"
      if [[ $sub == gc ]]; then opts="$opts --min-age -n --dry-run"; fi ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    case "$cmd" in  # Cache directories or database files.
      stats|verify|prune|merge|compact) COMPREPLY=($(compgen -f -- "$cur")) ;;
      clean) COMPREPLY=($(compgen -d -- "$cur")) ;;
    esac
  fi
}
complete -F _typecache typecache
