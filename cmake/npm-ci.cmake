# npm-ci.cmake: makes DIR/node_modules what DIR/package-lock.json pins, with `npm ci`, unless it
# is that already: then neither npm nor the network is needed. Run as a script by the build
# (CMakeLists.txt, the Swagger UI of GET /swagger-ui/):
#   cmake -DDIR=/path/to/third_party/swagger-ui -P npm-ci.cmake
# Build directories (build/ and build-asan/ in `make test`) share DIR/node_modules: the first
# build installs it and the others find it current. Builds that run at once take turns on a lock
# file (DIR/.npm-ci.lock), so two of them never run npm ci in the same directory together.
# Install scripts are not run (--ignore-scripts, and SCARF_ANALYTICS=false for good measure):
# swagger-ui-dist's dependency @scarf/scarf would otherwise report the install to its analytics
# service; nothing the server embeds needs an install script.
cmake_minimum_required(VERSION 3.20)
if(NOT DIR)
  message(FATAL_ERROR "npm-ci.cmake: pass -DDIR=<directory with package-lock.json>")
endif()

file(LOCK "${DIR}/.npm-ci.lock" GUARD PROCESS TIMEOUT 900 RESULT_VARIABLE lock_rc)
if(NOT lock_rc EQUAL 0)
  message(FATAL_ERROR "npm-ci.cmake: cannot lock ${DIR}/.npm-ci.lock: ${lock_rc}")
endif()

file(READ "${DIR}/package.json" package_json)
file(READ "${DIR}/package-lock.json" lock_json)

# package.json's dependencies must be the lock file's (npm ci would refuse them; say it plainly).
string(JSON wanted ERROR_VARIABLE no_deps GET "${package_json}" dependencies)
string(JSON locked ERROR_VARIABLE no_lock_deps GET "${lock_json}" packages "" dependencies)
if(no_deps OR no_lock_deps)
  message(FATAL_ERROR "${DIR}: package.json or package-lock.json has no dependencies")
endif()
string(JSON same EQUAL "${wanted}" "${locked}")
if(NOT same)
  message(FATAL_ERROR "${DIR}/package.json and its package-lock.json disagree: run "
                      "`npm install --ignore-scripts` there and commit the new package-lock.json")
endif()

# Whether every package of the lock file is installed at its locked version.
function(node_modules_current out)
  string(JSON packages GET "${lock_json}" packages)
  string(JSON n LENGTH "${packages}")
  math(EXPR last "${n} - 1")
  set(current TRUE)
  foreach(i RANGE 0 ${last})
    string(JSON key MEMBER "${packages}" ${i})
    if(key STREQUAL "")
      continue() # the project itself
    endif()
    string(JSON want GET "${packages}" "${key}" version)
    if(NOT EXISTS "${DIR}/${key}/package.json")
      set(current FALSE)
      break()
    endif()
    file(READ "${DIR}/${key}/package.json" installed)
    string(JSON have ERROR_VARIABLE bad GET "${installed}" version)
    if(bad OR NOT have STREQUAL want)
      set(current FALSE)
      break()
    endif()
  endforeach()
  set(${out} ${current} PARENT_SCOPE)
endfunction()

node_modules_current(current)
if(NOT current)
  find_program(NPM npm)
  if(NOT NPM)
    message(FATAL_ERROR
            "npm is missing: the build installs the Swagger UI of GET /swagger-ui/ (the npm package "
            "swagger-ui-dist, pinned in ${DIR}/package-lock.json) with npm ci. Install it with "
            "scripts/install-deps.sh (Debian's npm), or put a node_modules made by "
            "`npm ci --ignore-scripts` in ${DIR}.")
  endif()
  message(STATUS "npm ci in ${DIR} (swagger-ui-dist for GET /swagger-ui/)")
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env SCARF_ANALYTICS=false
            ${NPM} ci --ignore-scripts --no-audit --no-fund
    WORKING_DIRECTORY "${DIR}"
    RESULT_VARIABLE npm_rc)
  if(NOT npm_rc EQUAL 0)
    message(FATAL_ERROR "npm ci failed (${npm_rc}) in ${DIR}: the npm registry must be reachable "
                        "for the first build (afterwards node_modules is reused)")
  endif()
  node_modules_current(current)
  if(NOT current)
    message(FATAL_ERROR "npm ci in ${DIR} did not install what package-lock.json pins")
  endif()
endif()
