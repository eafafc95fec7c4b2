#!/usr/bin/python3
"""
oncely's MongoDB wire-protocol STAND-IN: mockupdb + mongomock, NOT MongoDB.

No real MongoDB can be installed on the machines oncely's CI runs on, so the conformance suite of
`@oncely/mongodb` runs against this bridge: Debian's `python3-mockupdb` speaks the wire protocol
(OP_MSG, plus the OP_QUERY handshake), and every command the official Node.js driver sends is
executed on a `mongomock` in-memory database. One global lock serializes all commands, so each
command is atomic with respect to every other, as a single-document operation is on a real server.

It implements exactly what the store and its tests use: the handshake (hello / isMaster), ping,
buildInfo, endSessions, find, findAndModify (update, replacement, upsert, remove), insert, update,
delete, createIndexes (TTL included, plus a TTL monitor), listIndexes, drop, dropDatabase. Anything
else is answered with CommandNotFound (59), never silently. Known divergences from MongoDB are listed
in ../../README.md ("Testing").

Run it with Debian's interpreter, /usr/bin/python3 (a pyenv python3 cannot see Debian's modules):

    /usr/bin/python3 standin.py [--port 0] [--ttl-monitor-seconds 60]

It prints `READY 127.0.0.1:<port>` on stdout once it listens, logs to stderr, and exits when its
stdin closes (so it never outlives the test run that started it) or on SIGTERM.
"""

import argparse
import datetime
import errno
import signal
import socket
import sys
import threading
import traceback
from collections import OrderedDict

try:
    import mockupdb
    import mongomock
    import mongomock.store
    from bson.int64 import Int64
    from mockupdb import OP_MSG_FLAGS, Command, MockupDB, OpMsg
    from pymongo import ReturnDocument
except ImportError as error:  # pragma: no cover - reported to the test setup
    sys.stderr.write(
        'mongodb stand-in: cannot import %s. Install Debian\'s python3-mockupdb and python3-mongomock '
        '(apt-get install -y python3-mockupdb python3-mongomock) and run with /usr/bin/python3.\n' % (error,)
    )
    sys.exit(3)

LABEL = 'mongodb (wire-protocol stand-in: mockupdb + mongomock, not MongoDB)'
MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE_BYTES = 48000000
MAX_WIRE_VERSION = 13  # what MongoDB 5.0 reports; the store documents 5.0 as its minimum

# mongomock deletes documents past a TTL index's date on EVERY access (lazily, at once); mongod only
# deletes them in its TTL monitor's passes, every 60 s. Only ttl_pass() below expires documents here.
mongomock.store.CollectionStore._remove_expired_documents = lambda self: None

LOCK = threading.RLock()
CLIENT = mongomock.MongoClient()
CONNECTION_IDS = {}


def log(message):
    sys.stderr.write('%s: %s\n' % (LABEL, message))
    sys.stderr.flush()


class CommandError(Exception):
    """A command failure, answered as `{ ok: 0, code, codeName, errmsg }` like a real server."""

    def __init__(self, code, code_name, errmsg, **extra):
        super().__init__(errmsg)
        self.code = code
        self.code_name = code_name
        self.errmsg = errmsg
        self.extra = extra

    def reply(self):
        doc = OrderedDict([('ok', 0.0), ('errmsg', self.errmsg), ('code', self.code), ('codeName', self.code_name)])
        doc.update(self.extra)
        return doc

    def write_error(self, index):
        doc = OrderedDict([('index', index), ('code', self.code), ('errmsg', self.errmsg)])
        doc.update(self.extra)
        return doc


# ---------------------------------------------------------------------------------------------
# Wire layer: receive without quadratic copying, and never leave a client waiting on a reply
# ---------------------------------------------------------------------------------------------

def _receive(sock, length):
    buffer = bytearray(length)
    view = memoryview(buffer)
    received = 0
    while received < length:
        count = sock.recv_into(view[received:], length - received)
        if count == 0:
            raise socket.error(errno.ECONNRESET, 'closed')
        received += count
    return bytes(buffer)


mockupdb.mock_server_receive = _receive
_receive_request = mockupdb.mock_server_receive_request


def _receive_request_or_hang_up(client, server):
    """A message the stand-in cannot parse closes the connection (the driver sees a network error)."""
    try:
        return _receive_request(client, server)
    except socket.error:
        raise
    except Exception as error:  # noqa: BLE001 - anything else would kill the thread and hang the client
        log('cannot parse a message (%s: %s); closing the connection' % (type(error).__name__, error))
        try:
            client.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise socket.error(errno.ECONNRESET, 'stand-in could not parse the message')


mockupdb.mock_server_receive_request = _receive_request_or_hang_up


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------

def hello_reply(request):
    connection_id = CONNECTION_IDS.setdefault(request.client_port, len(CONNECTION_IDS) + 1)
    return OrderedDict([
        ('helloOk', True),
        ('ismaster', True),
        ('isWritablePrimary', True),
        ('maxBsonObjectSize', MAX_BSON_OBJECT_SIZE),
        ('maxMessageSizeBytes', MAX_MESSAGE_SIZE_BYTES),
        ('maxWriteBatchSize', 100000),
        ('localTime', datetime.datetime.utcnow()),
        ('logicalSessionTimeoutMinutes', 30),
        ('connectionId', connection_id),
        ('minWireVersion', 0),
        ('maxWireVersion', MAX_WIRE_VERSION),
        ('readOnly', False),
        ('oncelyStandIn', LABEL),
        ('ok', 1.0),
    ])


def collection_of(db_name, cmd, name):
    coll_name = cmd[name]
    if not isinstance(coll_name, str) or not coll_name:
        raise CommandError(73, 'InvalidNamespace', 'collection name must be a non-empty string')
    return CLIENT[db_name][coll_name]


def namespace(coll):
    return '%s.%s' % (coll.database.name, coll.name)


def is_replacement(update):
    return isinstance(update, dict) and not any(key.startswith('$') for key in update)


def check_update(update):
    if isinstance(update, list):
        raise CommandError(
            9, 'FailedToParse',
            'the stand-in does not implement aggregation pipeline updates (MongoDB does, from 4.2)')
    if not isinstance(update, dict):
        raise CommandError(9, 'FailedToParse', 'update must be a document')
    keys = list(update)
    if keys and any(key.startswith('$') for key in keys) and not all(key.startswith('$') for key in keys):
        raise CommandError(9, 'FailedToParse', 'an update mixes operators and fields')


def sort_spec(sort):
    return list(sort.items()) if sort else None


def id_repr(value):
    return '"%s"' % value if isinstance(value, str) else repr(value)


def duplicate_key(coll, _id):
    """The error a real server gives for a second document with the same `_id`."""
    return CommandError(
        11000, 'DuplicateKey',
        'E11000 duplicate key error collection: %s index: _id_ dup key: { _id: %s }' % (namespace(coll), id_repr(_id)),
        keyPattern=OrderedDict([('_id', 1)]), keyValue=OrderedDict([('_id', _id)]))


def upsert_id(query, update):
    if '_id' in query and not isinstance(query['_id'], dict):
        return query['_id']
    if is_replacement(update):
        return update.get('_id')
    return update.get('$setOnInsert', {}).get('_id') or update.get('$set', {}).get('_id')


def apply_one(coll, query, update, upsert):
    """Update or replace the first match of `query`, or upsert. Returns (matched_id, upserted_id)."""
    check_update(update)
    match = coll.find_one(query, projection={'_id': True})
    if match is None and not upsert:
        return None, None
    if match is None:
        candidate = upsert_id(query, update)
        if candidate is not None and coll.find_one({'_id': candidate}, projection={'_id': True}) is not None:
            raise duplicate_key(coll, candidate)
    try:
        if is_replacement(update):
            result = coll.replace_one(query if match is None else {'_id': match['_id']}, update, upsert=upsert)
        else:
            result = coll.update_one(query if match is None else {'_id': match['_id']}, update, upsert=upsert)
    except mongomock.DuplicateKeyError:
        raise duplicate_key(coll, upsert_id(query, update))
    except (mongomock.WriteError, mongomock.OperationFailure, ValueError) as error:
        raise CommandError(getattr(error, 'code', None) or 2, 'BadValue', str(error))
    if match is not None:
        return match['_id'], None
    return None, result.upserted_id


def cmd_find(db_name, cmd):
    coll = collection_of(db_name, cmd, 'find')
    cursor = coll.find(cmd.get('filter') or {}, projection=cmd.get('projection') or None)
    if cmd.get('sort'):
        cursor = cursor.sort(sort_spec(cmd['sort']))
    if cmd.get('skip'):
        cursor = cursor.skip(int(cmd['skip']))
    if cmd.get('limit'):
        cursor = cursor.limit(abs(int(cmd['limit'])))
    docs = list(cursor)
    return OrderedDict([('cursor', OrderedDict([('firstBatch', docs), ('id', Int64(0)), ('ns', namespace(coll))])), ('ok', 1.0)])


def cmd_find_and_modify(db_name, cmd):
    coll = collection_of(db_name, cmd, 'findAndModify' if 'findAndModify' in cmd else 'findandmodify')
    query = cmd.get('query') or {}
    sort = sort_spec(cmd.get('sort'))
    fields = cmd.get('fields') or None
    if cmd.get('remove'):
        if cmd.get('new'):
            raise CommandError(9, 'FailedToParse', 'Cannot specify both new=true and remove=true')
        before = coll.find_one_and_delete(query, projection=fields, sort=sort)
        return OrderedDict([('lastErrorObject', OrderedDict([('n', 1 if before is not None else 0)])), ('value', before), ('ok', 1.0)])
    if 'update' not in cmd:
        raise CommandError(9, 'FailedToParse', 'Either an update or remove=true must be specified')
    update = cmd['update']
    check_update(update)
    target = coll.find_one(query, sort=sort, projection={'_id': True})
    before = coll.find_one({'_id': target['_id']}, projection=fields) if target is not None else None
    matched_id, upserted_id = apply_one(coll, query if target is None else {'_id': target['_id']}, update, bool(cmd.get('upsert')))
    last_error = OrderedDict([('n', 0 if matched_id is None and upserted_id is None else 1), ('updatedExisting', matched_id is not None)])
    if upserted_id is not None:
        last_error['upserted'] = upserted_id
    if cmd.get('new'):
        affected = matched_id if matched_id is not None else upserted_id
        value = coll.find_one({'_id': affected}, projection=fields) if affected is not None else None
    else:
        value = before
    return OrderedDict([('lastErrorObject', last_error), ('value', value), ('ok', 1.0)])


def cmd_insert(db_name, cmd):
    coll = collection_of(db_name, cmd, 'insert')
    ordered = cmd.get('ordered', True)
    inserted, errors = 0, []
    for index, doc in enumerate(cmd.get('documents') or []):
        try:
            if '_id' in doc and coll.find_one({'_id': doc['_id']}, projection={'_id': True}) is not None:
                raise duplicate_key(coll, doc['_id'])
            coll.insert_one(doc)
            inserted += 1
        except CommandError as error:
            errors.append(error.write_error(index))
            if ordered:
                break
    reply = OrderedDict([('n', inserted)])
    if errors:
        reply['writeErrors'] = errors
    reply['ok'] = 1.0
    return reply


def cmd_update(db_name, cmd):
    coll = collection_of(db_name, cmd, 'update')
    ordered = cmd.get('ordered', True)
    matched, modified, upserted, errors = 0, 0, [], []
    for index, spec in enumerate(cmd.get('updates') or []):
        try:
            if spec.get('multi'):
                check_update(spec['u'])
                if is_replacement(spec['u']):
                    raise CommandError(9, 'FailedToParse', 'multi update is not supported for replacement-style update')
                result = coll.update_many(spec.get('q') or {}, spec['u'], upsert=bool(spec.get('upsert')))
                if result.upserted_id is not None:
                    upserted.append(OrderedDict([('index', index), ('_id', result.upserted_id)]))
                    matched += 1
                else:
                    matched += result.matched_count
                    modified += result.modified_count or 0
                continue
            query = spec.get('q') or {}
            before = coll.find_one(query)
            matched_id, upserted_id = apply_one(coll, query, spec['u'], bool(spec.get('upsert')))
            if upserted_id is not None:
                upserted.append(OrderedDict([('index', index), ('_id', upserted_id)]))
                matched += 1
            elif matched_id is not None:
                matched += 1
                if coll.find_one({'_id': matched_id}) != before:
                    modified += 1
        except CommandError as error:
            errors.append(error.write_error(index))
            if ordered:
                break
    reply = OrderedDict([('n', matched), ('nModified', modified)])
    if upserted:
        reply['upserted'] = upserted
    if errors:
        reply['writeErrors'] = errors
    reply['ok'] = 1.0
    return reply


def cmd_delete(db_name, cmd):
    coll = collection_of(db_name, cmd, 'delete')
    deleted = 0
    for spec in cmd.get('deletes') or []:
        query = spec.get('q') or {}
        if spec.get('limit', 0) == 1:
            deleted += coll.delete_one(query).deleted_count
        else:
            deleted += coll.delete_many(query).deleted_count
    return OrderedDict([('n', deleted), ('ok', 1.0)])


INDEX_OPTIONS = ('unique', 'sparse', 'expireAfterSeconds', 'partialFilterExpression')


def cmd_create_indexes(db_name, cmd):
    coll = collection_of(db_name, cmd, 'createIndexes')
    created_collection = coll.name not in coll.database.list_collection_names()
    if created_collection:
        coll.database.create_collection(coll.name)
    existing = coll.index_information()
    before = len(existing)
    for spec in cmd.get('indexes') or []:
        key = list(spec['key'].items())
        name = spec.get('name')
        if not name:
            raise CommandError(9, 'FailedToParse', 'index specification must have a name')
        unknown = [option for option in spec if option not in ('key', 'name', 'v', 'background') + INDEX_OPTIONS]
        if unknown:
            raise CommandError(197, 'InvalidIndexSpecificationOption', 'the stand-in does not implement index option(s) %s' % unknown)
        current = existing.get(name)
        if current is not None:
            same_key = [tuple(pair) for pair in current['key']] == [tuple(pair) for pair in key]
            same_options = all(current.get(option) == spec.get(option) for option in INDEX_OPTIONS if option != 'sparse') and \
                bool(current.get('sparse')) == bool(spec.get('sparse'))
            if not same_key:
                raise CommandError(86, 'IndexKeySpecsConflict', 'An existing index has the same name as the requested index but a different key: %s' % name)
            if not same_options:
                raise CommandError(85, 'IndexOptionsConflict', 'An existing index has the same name as the requested index but different options: %s' % name)
            continue
        options = {option: spec[option] for option in INDEX_OPTIONS if option in spec}
        coll.create_index(key, name=name, **options)
    after = len(coll.index_information())
    return OrderedDict([
        ('numIndexesBefore', before if not created_collection else 1),
        ('numIndexesAfter', after),
        ('createdCollectionAutomatically', created_collection),
        ('ok', 1.0),
    ])


def cmd_list_indexes(db_name, cmd):
    coll = collection_of(db_name, cmd, 'listIndexes')
    if coll.name not in coll.database.list_collection_names():
        raise CommandError(26, 'NamespaceNotFound', 'ns does not exist: %s' % namespace(coll))
    docs = []
    for name, info in coll.index_information().items():
        doc = OrderedDict([('v', 2), ('key', OrderedDict((field, direction) for field, direction in info['key'])), ('name', name)])
        for option in INDEX_OPTIONS:
            if option in info:
                doc[option] = info[option]
        docs.append(doc)
    return OrderedDict([('cursor', OrderedDict([('firstBatch', docs), ('id', Int64(0)), ('ns', namespace(coll))])), ('ok', 1.0)])


def cmd_drop(db_name, cmd):
    coll = collection_of(db_name, cmd, 'drop')
    if coll.name not in coll.database.list_collection_names():
        raise CommandError(26, 'NamespaceNotFound', 'ns not found')
    coll.drop()
    return OrderedDict([('ns', namespace(coll)), ('ok', 1.0)])


def cmd_drop_database(db_name, _cmd):
    CLIENT.drop_database(db_name)
    return OrderedDict([('dropped', db_name), ('ok', 1.0)])


def cmd_build_info(_db_name, _cmd):
    return OrderedDict([
        ('version', '5.0.0-oncely-stand-in'),
        ('versionArray', [5, 0, 0, 0]),
        ('gitVersion', 'stand-in (mockupdb + mongomock), not MongoDB'),
        ('maxBsonObjectSize', MAX_BSON_OBJECT_SIZE),
        ('ok', 1.0),
    ])


def cmd_ok(_db_name, _cmd):
    return OrderedDict([('ok', 1.0)])


COMMANDS = {
    'ping': cmd_ok,
    'endsessions': cmd_ok,
    'killsessions': cmd_ok,
    'killcursors': lambda _db, cmd: OrderedDict([('cursorsKilled', list(cmd.get('cursors') or [])), ('ok', 1.0)]),
    'buildinfo': cmd_build_info,
    'find': cmd_find,
    'findandmodify': cmd_find_and_modify,
    'insert': cmd_insert,
    'update': cmd_update,
    'delete': cmd_delete,
    'createindexes': cmd_create_indexes,
    'listindexes': cmd_list_indexes,
    'drop': cmd_drop,
    'dropdatabase': cmd_drop_database,
}


def execute(request):
    cmd = request.doc
    name = next(iter(cmd), '')
    lowered = name.lower()
    if lowered in ('hello', 'ismaster'):
        return hello_reply(request)
    if 'startTransaction' in cmd or 'autocommit' in cmd:
        raise CommandError(20, 'IllegalOperation', 'Transaction numbers are only allowed on a replica set member or mongos')
    if 'collation' in cmd or any('collation' in spec for key in ('updates', 'deletes') for spec in cmd.get(key) or []):
        raise CommandError(2, 'BadValue', 'the stand-in does not implement collations')
    handler = COMMANDS.get(lowered)
    if handler is None:
        raise CommandError(59, 'CommandNotFound', "no such command: '%s' (the stand-in implements only what oncely uses)" % name)
    db_name = cmd.get('$db') or request.namespace or 'admin'
    return handler(db_name, cmd)


def handle(request):
    """Every request lands here, under one lock: each command is atomic, as on a real server."""
    if not isinstance(request, (OpMsg, Command)):
        log('legacy opcode %s is not supported; closing the connection' % type(request).__name__)
        return request.hangup()
    with LOCK:
        try:
            reply = execute(request)
        except CommandError as error:
            reply = error.reply()
        except Exception as error:  # noqa: BLE001 - a reply is always sent, never a hang
            log('internal error on %r:\n%s' % (request, traceback.format_exc()))
            reply = CommandError(1, 'InternalError', 'stand-in internal error: %s: %s' % (type(error).__name__, error)).reply()
    if isinstance(request, OpMsg) and request.flags & OP_MSG_FLAGS['moreToCome']:
        return True  # unacknowledged write (w: 0): no reply expected
    return request.replies(reply)


# ---------------------------------------------------------------------------------------------
# TTL monitor: like mongod's, a pass every N seconds deleting documents whose indexed date has passed
# ---------------------------------------------------------------------------------------------

def ttl_pass():
    now = datetime.datetime.utcnow()
    removed = 0
    with LOCK:
        for db_name in CLIENT.list_database_names():
            db = CLIENT[db_name]
            for coll_name in db.list_collection_names():
                coll = db[coll_name]
                for info in coll.index_information().values():
                    if 'expireAfterSeconds' not in info or len(info['key']) != 1:
                        continue
                    field = info['key'][0][0]
                    cutoff = now - datetime.timedelta(seconds=float(info['expireAfterSeconds']))
                    expired = [doc['_id'] for doc in coll.find({}, projection={field: True})
                               if isinstance(doc.get(field), datetime.datetime) and doc[field] < cutoff]
                    for _id in expired:
                        removed += coll.delete_one({'_id': _id}).deleted_count
    return removed


def ttl_monitor(period, stopped):
    while not stopped.wait(period):
        try:
            ttl_pass()
        except Exception:  # noqa: BLE001
            log('TTL monitor pass failed:\n%s' % traceback.format_exc())


def main():
    parser = argparse.ArgumentParser(description=LABEL)
    parser.add_argument('--port', type=int, default=0, help='loopback port; 0 picks a free one')
    parser.add_argument('--ttl-monitor-seconds', type=float, default=60.0, help="TTL monitor period (mongod's is 60)")
    args = parser.parse_args()

    server = MockupDB(port=args.port, request_timeout=int(1e6))
    server.autoresponds(handle)
    port = server.run()
    stopped = threading.Event()
    threading.Thread(target=ttl_monitor, args=(args.ttl_monitor_seconds, stopped), daemon=True).start()

    def stop(*_):
        stopped.set()
        server.stop()
        log('stopped')
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    log('listening on 127.0.0.1:%d (pymongo bson %s, mongomock %s, mockupdb %s)' % (
        port, mongomock.helpers.PYMONGO_VERSION, mongomock.__version__, getattr(mockupdb, '__version__', '?')))
    sys.stdout.write('READY 127.0.0.1:%d\n' % port)
    sys.stdout.flush()
    try:
        while sys.stdin.read(65536):
            pass
    except KeyboardInterrupt:
        pass
    stop()


if __name__ == '__main__':
    main()
