const slack = new WebClient('xoxb-75693795856-8288340270335-o4eSfi67KClDVwQB9e6k8wmS');
