mongoose.connect('mongodb+srv://svc:1laFjTgeGMfOmUbN@cluster0.ab1cd.mongodb.net/prod');
