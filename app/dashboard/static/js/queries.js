// Every GraphQL document the site sends, by name, in one place.

const TASK_ROW = `fragment TaskRow on Task {
  id queue state publisher data runAt createdAt startedAt finishedAt attempts failReason workerId
}`;

const COUNTS = "scheduled queued started completed failed waiting";

const SETTINGS = "settings { leaseSeconds maxDeliveries retry { limit delays base factor max jitter } }";

export const NAV = `query Nav { status { workers counts { failed } } }`;

export const OVERVIEW = `query Overview {
  queues { name paused length workers latencySeconds counts { ${COUNTS} } }
  workers { id }
}`;

// The chart's minutes and the lifetime totals in one answer: the figures shown beside the chart
// come from the same counters, read at the same moment.
export const STATS = `query Stats($queue: String, $since: Float, $until: Float) {
  stats(queue: $queue, since: $since, until: $until) { minute published completed failed }
  statsTotals(queue: $queue) { processed failed }
}`;

export const QUEUE = `query Queue($name: String!) {
  queue(queue: $name) {
    name exists paused interests createdAt workers length latencySeconds counts { ${COUNTS} }
    ${SETTINGS}
  }
}`;

export const QUEUE_NAMES = `query QueueNames { queues { name } }`;

export const TASKS = `query Tasks($queue: String, $state: String, $retry: Boolean, $first: Int,
    $after: String) {
  tasks(queue: $queue, state: $state, retry: $retry, first: $first, after: $after) {
    tasks { ...TaskRow } nextCursor hasNextPage
  }
}
${TASK_ROW}`;

export const TASK = `query Task($id: ID!) {
  task(taskId: $id) {
    id eventId queue workerId publisher data runAt scope singularlyEnqueue singularlyRun state
    attempts createdAt startedAt finishedAt leaseUntil failReason failures { reason at }
    result progress parentTaskId children { id queue state createdAt }
  }
}`;

export const WORKERS = `query Workers {
  workers { id name queues registeredAt lastSeen tasks { id queue startedAt leaseUntil } }
}`;

export const FAILED = `query Failed($queue: String, $publisher: String, $reason: String,
    $first: Int, $after: String) {
  failedTasks(queue: $queue, publisher: $publisher, reason: $reason, first: $first, after: $after) {
    tasks { ...TaskRow } nextCursor hasNextPage
  }
}
${TASK_ROW}`;

export const SCHEDULES = `query Schedules {
  schedules {
    name cron timezone publisher data scope singularlyEnqueue singularlyRun uniqueKey enabled
    nextRunAt lastRunAt
  }
}`;

export const SEARCH = `query Search($field: String!, $value: String!, $queue: String,
    $first: Int, $after: String) {
  searchTasks(field: $field, value: $value, queue: $queue, first: $first, after: $after) {
    tasks { ...TaskRow } nextCursor hasNextPage
  }
}
${TASK_ROW}`;

export const FIND_TASK = `query FindTask($id: ID!) { task(taskId: $id) { id } }`;

export const PAUSE_QUEUE = `mutation PauseQueue($name: String!) { pauseQueue(queue: $name) { name paused } }`;
export const RESUME_QUEUE = `mutation ResumeQueue($name: String!) { resumeQueue(queue: $name) { name paused } }`;
export const DELETE_TASKS = `mutation DeleteTasks($queue: String!) { deleteTasks(queue: $queue) }`;
export const DELETE_QUEUE = `mutation DeleteQueue($name: String!) { deleteQueue(queue: $name) }`;
export const SET_INTERESTS = `mutation SetInterests($queue: String!, $interests: JSON!) {
  setInterests(queue: $queue, interests: $interests) { name interests }
}`;
export const DELETE_INTERESTS = `mutation DeleteInterests($queue: String!) { deleteInterests(queue: $queue) }`;
export const CONFIGURE_QUEUE = `mutation ConfigureQueue($name: String!, $leaseSeconds: Float,
    $maxDeliveries: Int, $retryLimit: Int, $retryDelays: [Float!], $backoffBase: Float,
    $backoffFactor: Float, $backoffMax: Float, $backoffJitter: Float) {
  configureQueue(queue: $name, leaseSeconds: $leaseSeconds, maxDeliveries: $maxDeliveries,
      retryLimit: $retryLimit, retryDelays: $retryDelays, backoffBase: $backoffBase,
      backoffFactor: $backoffFactor, backoffMax: $backoffMax, backoffJitter: $backoffJitter) {
    name ${SETTINGS}
  }
}`;

export const RETRY_FAILED = `mutation RetryFailed($taskId: ID, $queue: String, $publisher: String,
    $reason: String) {
  retryFailed(taskId: $taskId, queue: $queue, publisher: $publisher, reason: $reason)
}`;
export const REMOVE_FAILED = `mutation RemoveFailed($taskId: ID, $queue: String, $publisher: String,
    $reason: String) {
  removeFailed(taskId: $taskId, queue: $queue, publisher: $publisher, reason: $reason)
}`;

export const RUN_TASK_NOW = `mutation RunTaskNow($id: ID!) { runTaskNow(taskId: $id) { id state } }`;
export const DELETE_TASK = `mutation DeleteTask($id: ID!) { deleteTask(taskId: $id) }`;
export const DELETE_WORKER = `mutation DeleteWorker($id: ID!) { deleteWorker(workerId: $id) }`;

export const CREATE_SCHEDULE = `mutation CreateSchedule($input: ScheduleInput!) {
  createSchedule(input: $input) { name }
}`;
export const SET_SCHEDULE_ENABLED = `mutation SetScheduleEnabled($name: String!, $enabled: Boolean!) {
  setScheduleEnabled(name: $name, enabled: $enabled) { name enabled }
}`;
export const DELETE_SCHEDULE = `mutation DeleteSchedule($name: String!) { deleteSchedules(names: [$name]) }`;
